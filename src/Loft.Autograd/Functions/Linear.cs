// nn.Linear on the tape: y = x·Wᵀ + b with W (out, in). Backward: dx += dy·W, dW += dyᵀ·x (only if W is
// trainable), db += Σ_rows dy. Kernels: Loft.Tensors.Kernels.MatMul.
using System.Numerics.Tensors;
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class Linear
{
    /// <param name="x">(..., in)</param>
    /// <param name="weight">(out, in)</param>
    /// <param name="bias">(out) or null</param>
    /// <returns>(..., out)</returns>
    public static Var Apply(Tape tape, Var x, Var weight, Var? bias = null)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Shape.Length != 2) throw new ArgumentException($"Linear: weight {weight} must be 2-D (out, in)", nameof(weight));
        int n = weight.Shape[0], k = weight.Shape[1];
        Check.Columns(x, k, "Linear", "input");
        if (bias != null) Check.Length(bias, n, "Linear", "bias");
        int m = x.Rows;
        bool req = tape.GradEnabled && (x.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false));
        var y = tape.NewOutput(Check.RowShape(x, n), req);
        K.MatMul.Forward(y.Value, x.Value, weight.Value, bias == null ? default : bias.Value, m, k, n);   // (m, n)
        if (req) tape.Record(new Node(x, weight, bias, y, m, k, n));
        return y;
    }

    /// <summary>db (n) += column sums of dy (m, n).</summary>
    internal static void BiasBackward(Span<float> db, ReadOnlySpan<float> dy, int m, int n)
    {
        for (int r = 0; r < m; r++)
            TensorPrimitives.Add(db, dy.Slice(r * n, n), db);
    }

    sealed class Node(Var x, Var w, Var? b, Var y, int m, int k, int n) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            var dy = y.Grad;
            if (x.RequiresGrad) K.MatMul.BackwardInput(x.Grad, dy, w.Value, m, k, n);
            if (w.RequiresGrad) K.MatMul.BackwardWeight(w.Grad, dy, x.Value, m, k, n);
            if (b is { RequiresGrad: true }) BiasBackward(b.Grad, dy, m, n);
        }
    }
}
