// Reverse-mode automatic differentiation (Griewank & Walther, "Evaluating Derivatives"; PyTorch autograd):
// each op records one node with its backward; Backward(loss) seeds d loss = 1 and runs the nodes in reverse.
namespace Loft.Autograd;

/// <summary>One recorded op: reads its output's gradient and accumulates (+=) into its inputs' gradients.</summary>
public abstract class Node
{
    protected internal abstract void Backward(Tape tape);
}

public sealed class Tape
{
    readonly List<Node> _nodes = [];
    bool _backwardDone;

    public Tape(Arena? arena = null) => Arena = arena ?? new Arena();

    /// <summary>Activation, gradient and saved-tensor memory of the current step.</summary>
    public Arena Arena { get; }

    /// <summary>
    /// False runs ops without recording them or allocating gradients (torch.no_grad): for evaluation and for
    /// the first forward pass of a checkpointed layer.
    /// </summary>
    public bool GradEnabled { get; set; } = true;

    /// <summary>Recorded nodes since the last <see cref="Reset"/>.</summary>
    public int Count => _nodes.Count;

    /// <summary>A new activation from the arena: zeroed value, and a zeroed gradient when <paramref name="requiresGrad"/>.</summary>
    public Var NewVar(int[] shape, bool requiresGrad) => NewVar(shape, requiresGrad, clearValue: true);

    /// <summary>A new activation whose value the op overwrites whole (not zeroed: saves a pass over memory per op);
    /// its gradient is zeroed when <paramref name="requiresGrad"/>.</summary>
    public Var NewOutput(int[] shape, bool requiresGrad) => NewVar(shape, requiresGrad, clearValue: false);

    Var NewVar(int[] shape, bool requiresGrad, bool clearValue)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n > int.MaxValue) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has more than {int.MaxValue} elements", nameof(shape));
        var value = Arena.Rent((int)n, clearValue);
        var grad = requiresGrad ? Arena.Rent((int)n) : Memory<float>.Empty;
        return new Var(null, shape, value, grad, requiresGrad);
    }

    /// <summary>Scratch or saved-for-backward memory from the arena (zeroed).</summary>
    public Memory<float> Scratch(int length) => Arena.Rent(length);

    /// <summary>Scratch memory the caller overwrites whole before reading (not zeroed).</summary>
    public Memory<float> ScratchUninitialized(int length) => Arena.Rent(length, clear: false);

    public void Record(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _nodes.Add(node);
    }

    /// <summary>Back-propagates from a scalar loss: d loss / d loss = 1.</summary>
    public void Backward(Var loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (loss.Length != 1) throw new ArgumentException($"Backward(loss) needs a scalar, got shape [{string.Join(", ", loss.Shape)}]; pass an output gradient instead", nameof(loss));
        Backward(loss, [1f]);
    }

    /// <summary>Back-propagates <paramref name="outputGrad"/> (same length as <paramref name="output"/>) through every recorded node.</summary>
    public void Backward(Var output, ReadOnlySpan<float> outputGrad)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.RequiresGrad) throw new InvalidOperationException($"{output} does not require a gradient: no input of the graph is trainable");
        if (outputGrad.Length != output.Length)
            throw new ArgumentException($"output gradient has {outputGrad.Length} elements, the output {output.Length}", nameof(outputGrad));
        if (_backwardDone)
            throw new InvalidOperationException("Backward was already run on this tape's graph (its gradients are accumulated); Reset the tape and run the forward pass again");
        _backwardDone = true;
        System.Numerics.Tensors.TensorPrimitives.Add(output.Grad, outputGrad, output.Grad);
        for (int i = _nodes.Count - 1; i >= 0; i--)
            _nodes[i].Backward(this);
    }

    /// <summary>Forgets the recorded nodes and rewinds the arena (call once per step, before the forward pass).</summary>
    public void Reset()
    {
        _nodes.Clear();
        _backwardDone = false;
        Arena.Reset();
    }
}
