// Causal scaled dot-product attention with grouped-query heads (Vaswani et al. 2017; Ainslie et al. 2023) on the
// tape, per sequence of a batch, with segment ids masking padding or packed neighbours. The softmax P
// (B, nh, T, T) is saved for the backward pass. Kernels: Loft.Tensors.Kernels.Attention.
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class Attention
{
    /// <param name="q">(B·T, nh·hs), RoPE applied</param>
    /// <param name="k">(B·T, nkv·hs), RoPE applied</param>
    /// <param name="v">(B·T, nkv·hs)</param>
    /// <param name="segmentIds">empty (each row one sequence) or (B·T): a query sees earlier keys of its row with the same id</param>
    /// <returns>(B·T, nh·hs)</returns>
    public static Var Apply(Tape tape, Var q, Var k, Var v, int batch, int time, int nHeads, int nKvHeads, int headDim, ReadOnlyMemory<int> segmentIds)
    {
        ArgumentNullException.ThrowIfNull(tape);
        if (batch < 0 || time < 0) throw new ArgumentException($"Attention: batch {batch} and time {time} must be >= 0");
        if (nHeads < 1 || nKvHeads < 1 || nHeads % nKvHeads != 0)
            throw new ArgumentException($"Attention: heads {nHeads} must be a positive multiple of kv heads {nKvHeads}");
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "Attention: head size must be >= 1");
        int BT = batch * time, qC = nHeads * headDim, kvC = nKvHeads * headDim;
        Check.Length(q, BT * qC, "Attention", "q");
        Check.Length(k, BT * kvC, "Attention", "k");
        Check.Length(v, BT * kvC, "Attention", "v");
        if (!segmentIds.IsEmpty && segmentIds.Length != BT)
            throw new ArgumentException($"Attention: {segmentIds.Length} segment ids for {BT} positions", nameof(segmentIds));
        bool req = tape.GradEnabled && (q.RequiresGrad || k.RequiresGrad || v.RequiresGrad);
        var y = tape.NewOutput((int[])q.Shape.Clone(), req);
        int pT = nHeads * time * time;
        var probs = req ? tape.ScratchUninitialized(batch * pT) : Memory<float>.Empty;            // (B, nh, T, T)
        K.Attention.Forward(y.Value, q.Value, k.Value, v.Value, batch, time, time, nHeads, nKvHeads, headDim, 0,
            segmentIds.Span, req ? probs.Span : default);
        if (req) tape.Record(new Node(q, k, v, y, probs, batch, time, nHeads, nKvHeads, headDim));
        return y;
    }

    sealed class Node(Var q, Var k, Var v, Var y, Memory<float> probs, int batch, int time, int nh, int nkv, int hs) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            var dq = q.RequiresGrad ? q.Grad : tape.Scratch(q.Length).Span;
            var dk = k.RequiresGrad ? k.Grad : tape.Scratch(k.Length).Span;
            var dv = v.RequiresGrad ? v.Grad : tape.Scratch(v.Length).Span;
            K.Attention.Backward(dq, dk, dv, y.Grad, q.Value, k.Value, v.Value, probs.Span, batch, time, time, nh, nkv, hs, 0);
        }
    }
}
