// Backward kernels against their scalar oracles (gradients accumulate into non-zero buffers to check the +=).
using Loft.Tensors.Kernels;
using Loft.Tensors.Kernels.Reference;

namespace Loft.Tensors.Check;

public static partial class KernelChecks
{
    static (string, Action)[] BackwardChecks =>
    [
        ("rmsnorm.backward", RmsNormBackwardChecks),
        ("rope.backward", RopeBackwardChecks),
        ("softmax.backward", SoftmaxBackwardChecks),
        ("swiglu.backward", SwiGluBackwardChecks),
        ("embedding.backward", EmbeddingBackwardChecks),
        ("attention.backward", AttentionBackwardChecks),
        ("attention.batched", AttentionBatchedChecks),
    ];

    static void RmsNormBackwardChecks()
    {
        const int rows = 3;
        for (int dim = 1; dim <= 257; dim++)
        {
            var rng = new Random(dim);
            var x = Rand(rng, rows * dim, 2f); var w = Rand(rng, dim); var dy = Rand(rng, rows * dim);
            var y = new float[rows * dim]; var rstd = new float[rows];
            RmsNormReference.Forward(y, rstd, x, w, rows, dim, 1e-5f);
            var dxE = Rand(rng, rows * dim); var dwE = Rand(rng, dim);
            var dxA = (float[])dxE.Clone(); var dwA = (float[])dwE.Clone();
            RmsNormReference.Backward(dxE, dwE, dy, x, w, rstd, rows, dim);
            RmsNorm.Backward(dxA, dwA, dy, x, w, rstd, rows, dim);
            Compare($"RmsNorm.Backward dx dim={dim}", dxE, dxA, 1e-5f, 1e-4f);
            Compare($"RmsNorm.Backward dw dim={dim}", dwE, dwA, 1e-5f, 1e-4f);
        }
    }

    static void RopeBackwardChecks()
    {
        foreach (int hs in new[] { 2, 6, 16, 18, 64, 66 })
        {
            const int T = 4, nh = 2;
            var table = new RopeTable(hs, 30, 10000f);
            var rng = new Random(hs);
            int[] pos = [0, 29, 3, 3];
            var dy = Rand(rng, T * nh * hs);
            var dxE = Rand(rng, T * nh * hs); var dxA = (float[])dxE.Clone();
            RopeReference.Backward(dxE, dy, pos, nh, hs, table);
            Rope.Backward(dxA, dy, pos, nh, hs, table);
            Compare($"Rope.Backward hs={hs}", dxE, dxA, 1e-6f, 1e-5f);
            // The in-place variant equals dy rotated back; rotating forward again restores dy.
            var g = (float[])dy.Clone();
            Rope.BackwardInPlace(g, pos, nh, hs, table);
            Rope.Forward(g, pos, nh, hs, table);
            Compare($"Rope.Forward∘BackwardInPlace hs={hs}", dy, g, 1e-6f, 1e-5f);
        }
    }

    static void SoftmaxBackwardChecks()
    {
        const int rows = 3;
        for (int cols = 1; cols <= 257; cols++)
        {
            var rng = new Random(cols);
            var x = Rand(rng, rows * cols, 4f); var dy = Rand(rng, rows * cols);
            var y = new float[rows * cols];
            SoftmaxReference.Forward(y, x, rows, cols);
            var dxE = Rand(rng, rows * cols); var dxA = (float[])dxE.Clone();
            SoftmaxReference.Backward(dxE, dy, y, rows, cols);
            Softmax.Backward(dxA, dy, y, rows, cols);
            Compare($"Softmax.Backward cols={cols}", dxE, dxA, 1e-6f, 1e-5f);
        }
    }

    static void SwiGluBackwardChecks()
    {
        for (int len = 0; len <= 257; len++)
        {
            var rng = new Random(len);
            var g = Rand(rng, len, 10f); var u = Rand(rng, len, 2f); var dy = Rand(rng, len);
            var dgE = Rand(rng, len); var duE = Rand(rng, len);
            var dgA = (float[])dgE.Clone(); var duA = (float[])duE.Clone();
            SwiGluReference.Backward(dgE, duE, dy, g, u);
            SwiGlu.Backward(dgA, duA, dy, g, u);
            Compare($"SwiGlu.Backward dgate len={len}", dgE, dgA, 1e-6f, 1e-5f);
            Compare($"SwiGlu.Backward dup len={len}", duE, duA, 1e-6f, 1e-5f);
        }
    }

    static void EmbeddingBackwardChecks()
    {
        const int V = 5;
        int[] ids = [4, 0, 4, 2, 4];   // repeated ids accumulate
        for (int dim = 1; dim <= 257; dim += 4)
        {
            var rng = new Random(dim);
            var dy = Rand(rng, ids.Length * dim);
            var dtE = Rand(rng, V * dim); var dtA = (float[])dtE.Clone();
            EmbeddingReference.Backward(dtE, dy, ids, dim);
            Embedding.Backward(dtA, dy, ids, dim);
            Compare($"Embedding.Backward dim={dim}", dtE, dtA, 1e-6f, 1e-6f);
        }
        // Large enough to split over the pool by column blocks (dim 288: four of 64 and one of 32); ids repeat.
        foreach (int dim in new[] { 288, 100 })
        {
            var rng = new Random(dim);
            int tokens = 600, vocab = 37;
            var many = new int[tokens];
            for (int t = 0; t < tokens; t++) many[t] = rng.Next(vocab);
            var dy = Rand(rng, tokens * dim);
            var dtE = Rand(rng, vocab * dim); var dtA = (float[])dtE.Clone();
            EmbeddingReference.Backward(dtE, dy, many, dim);
            Embedding.Backward(dtA, dy, many, dim);
            Compare($"Embedding.Backward tokens={tokens} dim={dim}", dtE, dtA, 1e-6f, 1e-6f);
        }
    }

    static void AttentionBackwardChecks()
    {
        foreach (var (tq, tk, nh, nkv, hs, qPos0, packed) in AttentionShapes)
        {
            var rng = new Random(tq * 131 + tk * 17 + nh * 3 + hs);
            var q = Rand(rng, tq * nh * hs, 2f); var k = Rand(rng, tk * nkv * hs, 2f); var v = Rand(rng, tk * nkv * hs);
            var dout = Rand(rng, tq * nh * hs);
            int[] seg = packed ? Segments(rng, tk) : [];
            var o = new float[tq * nh * hs]; var probs = new float[nh * tq * tk];
            AttentionReference.Forward(o, q, k, v, tq, tk, nh, nkv, hs, qPos0, seg, probs);
            var dqE = Rand(rng, q.Length); var dkE = Rand(rng, k.Length); var dvE = Rand(rng, v.Length);
            var dqA = (float[])dqE.Clone(); var dkA = (float[])dkE.Clone(); var dvA = (float[])dvE.Clone();
            AttentionReference.Backward(dqE, dkE, dvE, dout, q, k, v, probs, tq, tk, nh, nkv, hs, qPos0);
            Attention.Backward(dqA, dkA, dvA, dout, q, k, v, probs, tq, tk, nh, nkv, hs, qPos0);
            string shape = $"tq={tq} tk={tk} nh={nh} nkv={nkv} hs={hs} qPos0={qPos0} packed={packed}";
            Compare($"Attention.Backward dq {shape}", dqE, dqA, 1e-5f, 1e-4f);
            Compare($"Attention.Backward dk {shape}", dkE, dkA, 1e-5f, 1e-4f);
            Compare($"Attention.Backward dv {shape}", dvE, dvA, 1e-5f, 1e-4f);
        }
    }

    /// <summary>Batched self-attention (one parallel loop over sequences, heads and blocks) against the reference run
    /// sequence by sequence: short (per-sequence path) and GEMM-path lengths, GQA, packed segments.</summary>
    static void AttentionBatchedChecks()
    {
        foreach (var (batch, t, nh, nkv, hs, packed) in new[] { (3, 7, 4, 2, 8, false), (2, 12, 2, 2, 16, true), (3, 70, 6, 3, 48, true), (4, 130, 2, 1, 64, false) })
        {
            var rng = new Random(batch * 1000 + t * 7 + hs);
            int qn = t * nh * hs, kn = t * nkv * hs, pn = nh * t * t;
            var q = Rand(rng, batch * qn, 2f); var k = Rand(rng, batch * kn, 2f); var v = Rand(rng, batch * kn);
            var dout = Rand(rng, batch * qn);
            int[] seg = packed ? Segments(rng, batch * t) : [];
            var oE = new float[batch * qn]; var pE = new float[batch * pn];
            var dqE = Rand(rng, batch * qn); var dkE = Rand(rng, batch * kn); var dvE = Rand(rng, batch * kn);
            var dqA = (float[])dqE.Clone(); var dkA = (float[])dkE.Clone(); var dvA = (float[])dvE.Clone();
            for (int b = 0; b < batch; b++)
            {
                var ob = new float[qn]; var pb = new float[pn];
                var qb = q.AsSpan(b * qn, qn).ToArray(); var kb = k.AsSpan(b * kn, kn).ToArray(); var vb = v.AsSpan(b * kn, kn).ToArray();
                AttentionReference.Forward(ob, qb, kb, vb, t, t, nh, nkv, hs, 0, packed ? seg.AsSpan(b * t, t).ToArray() : [], pb);
                ob.CopyTo(oE, b * qn); pb.CopyTo(pE, b * pn);
                var dq = dqE.AsSpan(b * qn, qn).ToArray(); var dk = dkE.AsSpan(b * kn, kn).ToArray(); var dv = dvE.AsSpan(b * kn, kn).ToArray();
                AttentionReference.Backward(dq, dk, dv, dout.AsSpan(b * qn, qn).ToArray(), qb, kb, vb, pb, t, t, nh, nkv, hs, 0);
                dq.CopyTo(dqE, b * qn); dk.CopyTo(dkE, b * kn); dv.CopyTo(dvE, b * kn);
            }
            var oA = Fill(batch * qn, float.NaN); var pA = Fill(batch * pn, float.NaN);
            Attention.Forward(oA, q, k, v, batch, t, t, nh, nkv, hs, 0, seg, pA);
            Attention.Backward(dqA, dkA, dvA, dout, q, k, v, pA, batch, t, t, nh, nkv, hs, 0);
            string shape = $"batch={batch} t={t} nh={nh} nkv={nkv} hs={hs} packed={packed}";
            Compare($"Attention.Forward batched output {shape}", oE, oA, 2e-6f, 1e-5f);
            Compare($"Attention.Forward batched probs {shape}", pE, pA, 1e-7f, 1e-5f);
            Compare($"Attention.Backward batched dq {shape}", dqE, dqA, 1e-5f, 1e-4f);
            Compare($"Attention.Backward batched dk {shape}", dkE, dkA, 1e-5f, 1e-4f);
            Compare($"Attention.Backward batched dv {shape}", dvE, dvA, 1e-5f, 1e-4f);
        }
    }
}
