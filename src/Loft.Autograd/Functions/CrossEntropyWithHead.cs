// Causal-LM cross-entropy fused with the LM head, chunked over tokens (Loft.Nn.Losses.CrossEntropy, after
// Liger-Kernel): loss = Σ_t -log softmax(h_t·Wᵀ)[target_t] / normaliser over targets != -100. The forward pass
// only computes the loss; the backward pass runs the fused forward-backward again, so [N, V] logits and their
// gradient never exist at once. When gradients are recorded the forward pass also computes d loss / d h (and
// d loss / d head when the head is trainable) in the same sweep, as Liger-Kernel does, so the logits are formed
// once; the backward pass scales those by the upstream gradient g.
using System.Numerics.Tensors;
using Loft.Nn.Losses;

namespace Loft.Autograd.Functions;

public static class CrossEntropyWithHead
{
    /// <param name="h">(N, C) final hidden states</param>
    /// <param name="head">(V, C) LM head (the embedding table when tied)</param>
    /// <param name="targets">(N) ids in [0, V) or -100</param>
    /// <param name="normaliser">number of target tokens in the whole batch (> 0)</param>
    /// <param name="intoGradients">The caller back-propagates this loss once, as the root, with gradient 1
    /// (<see cref="Tape.Backward(Var)"/>): d loss / d h and d loss / d head then go straight into h.Grad and head.Grad
    /// during the forward sweep, with no (V, C) scratch to zero and add; the backward pass checks the gradient is 1.</param>
    /// <returns>the scalar loss, shape [1]</returns>
    public static Var Apply(Tape tape, Var h, Var head, ReadOnlyMemory<int> targets, double normaliser, int chunk = CrossEntropy.DefaultChunk,
        bool intoGradients = false)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(head);
        if (head.Shape.Length != 2) throw new ArgumentException($"CrossEntropyWithHead: head {head} must be 2-D (V, C)", nameof(head));
        int V = head.Shape[0], C = head.Shape[1];
        Check.Columns(h, C, "CrossEntropyWithHead", "hidden states");
        int N = h.Rows;
        bool req = tape.GradEnabled && (h.RequiresGrad || head.RequiresGrad);
        var y = tape.NewVar([1], req);
        if (!req)
        {
            y.Value[0] = (float)CrossEntropy.Forward(h.Value, head.Value, targets.Span, N, C, V, normaliser, chunk);
            return y;
        }
        if (intoGradients)
        {
            y.Value[0] = (float)CrossEntropy.ForwardBackward(h.RequiresGrad ? h.Grad : default, head.RequiresGrad ? head.Grad : default,
                h.Value, head.Value, targets.Span, N, C, V, normaliser, chunk);
            tape.Record(new Node(h, head, y, Memory<float>.Empty, Memory<float>.Empty, accumulated: true));
            return y;
        }
        var dh = h.RequiresGrad ? tape.Scratch(N * C) : Memory<float>.Empty;
        var dw = head.RequiresGrad ? tape.Scratch(V * C) : Memory<float>.Empty;
        y.Value[0] = (float)CrossEntropy.ForwardBackward(dh.Span, dw.Span, h.Value, head.Value, targets.Span, N, C, V, normaliser, chunk);
        tape.Record(new Node(h, head, y, dh, dw, accumulated: false));
        return y;
    }

    sealed class Node(Var h, Var w, Var y, Memory<float> dh, Memory<float> dw, bool accumulated) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            float g = y.Grad[0];
            if (accumulated)
            {
                if (g != 1f)
                    throw new InvalidOperationException($"CrossEntropyWithHead: this loss put its gradients into h and the head during the forward pass (intoGradients), so it must be back-propagated with gradient 1, got {g}");
                return;
            }
            if (g == 0f) return;
            if (!float.IsFinite(g))
                throw new InvalidOperationException($"CrossEntropyWithHead: the upstream gradient must be finite, got {g}");
            if (h.RequiresGrad) Accumulate(h.Grad, dh.Span, g);
            if (w.RequiresGrad) Accumulate(w.Grad, dw.Span, g);
        }

        static void Accumulate(Span<float> grad, ReadOnlySpan<float> d, float g)
        {
            if (g == 1f) Loft.Tensors.Kernels.Add.InPlace(grad, d);   // parallel for the (V, C) head gradient
            else TensorPrimitives.MultiplyAdd(d, g, grad, grad);
        }
    }
}
