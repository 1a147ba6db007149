// Every backward kernel, fast and reference, against central finite differences of its forward.
using Loft.Tensors.Check;
using Loft.Tensors.Kernels;
using Loft.Tensors.Kernels.Reference;

namespace Loft.Tensors.Tests;

public class GradientTests
{
    static float[] Rand(int seed, int n, float scale = 1f) => KernelChecks.Rand(new Random(seed), n, scale);

    public static TheoryData<bool> Implementations() => new() { true, false };   // fast, reference

    [Theory]
    [MemberData(nameof(Implementations))]
    public void MatMulGradients(bool fast)
    {
        const int m = 3, k = 7, n = 5;
        var x = Rand(1, m * k); var w = Rand(2, n * k); var b = Rand(3, n); var G = Rand(4, m * n);
        var y = new float[m * n];
        double Loss() { MatMulReference.Forward(y, x, w, b, m, k, n); return GradCheck.Dot(y, G); }
        var dx = new float[m * k]; var dw = new float[n * k];
        if (fast) { MatMul.BackwardInput(dx, G, w, m, k, n); MatMul.BackwardWeight(dw, G, x, m, k, n); }
        else { MatMulReference.BackwardInput(dx, G, w, m, k, n); MatMulReference.BackwardWeight(dw, G, x, m, k, n); }
        GradCheck.AssertGradient("MatMul dx", x, dx, Loss);
        GradCheck.AssertGradient("MatMul dw", w, dw, Loss);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void RmsNormGradients(bool fast)
    {
        const int rows = 3, dim = 19;
        var x = Rand(5, rows * dim, 2f); var w = Rand(6, dim); var G = Rand(7, rows * dim);
        var y = new float[rows * dim]; var rstd = new float[rows];
        double Loss() { RmsNormReference.Forward(y, rstd, x, w, rows, dim, 1e-5f); return GradCheck.Dot(y, G); }
        Loss();
        var dx = new float[rows * dim]; var dw = new float[dim];
        if (fast) RmsNorm.Backward(dx, dw, G, x, w, rstd, rows, dim); else RmsNormReference.Backward(dx, dw, G, x, w, rstd, rows, dim);
        GradCheck.AssertGradient("RmsNorm dx", x, dx, Loss, h: 1e-3f);
        GradCheck.AssertGradient("RmsNorm dw", w, dw, Loss, h: 1e-3f);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void RopeGradient(bool fast)
    {
        const int T = 3, nh = 2, hs = 10;
        var table = new RopeTable(hs, 16, 10000f);
        int[] pos = [0, 5, 15];
        var x = Rand(8, T * nh * hs); var G = Rand(9, T * nh * hs); var y = new float[x.Length];
        double Loss() { x.CopyTo(y, 0); RopeReference.Forward(y, pos, nh, hs, table); return GradCheck.Dot(y, G); }
        var dx = new float[x.Length];
        if (fast) Rope.Backward(dx, G, pos, nh, hs, table); else RopeReference.Backward(dx, G, pos, nh, hs, table);
        GradCheck.AssertGradient("Rope dx", x, dx, Loss);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void SoftmaxGradient(bool fast)
    {
        const int rows = 2, cols = 9;
        var x = Rand(10, rows * cols, 3f); var G = Rand(11, rows * cols); var y = new float[x.Length];
        double Loss() { SoftmaxReference.Forward(y, x, rows, cols); return GradCheck.Dot(y, G); }
        Loss();
        var dx = new float[x.Length];
        if (fast) Softmax.Backward(dx, G, y, rows, cols); else SoftmaxReference.Backward(dx, G, y, rows, cols);
        GradCheck.AssertGradient("Softmax dx", x, dx, Loss, h: 1e-3f);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void SwiGluGradients(bool fast)
    {
        const int n = 37;
        var g = Rand(12, n, 5f); var u = Rand(13, n, 2f); var G = Rand(14, n); var y = new float[n];
        double Loss() { SwiGluReference.Forward(y, g, u); return GradCheck.Dot(y, G); }
        var dg = new float[n]; var du = new float[n];
        if (fast) SwiGlu.Backward(dg, du, G, g, u); else SwiGluReference.Backward(dg, du, G, g, u);
        GradCheck.AssertGradient("SwiGlu dgate", g, dg, Loss, h: 1e-3f);
        GradCheck.AssertGradient("SwiGlu dup", u, du, Loss, h: 1e-3f);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void EmbeddingGradient(bool fast)
    {
        const int V = 6, dim = 5;
        int[] ids = [1, 4, 1, 0];
        var table = Rand(15, V * dim); var G = Rand(16, ids.Length * dim); var y = new float[ids.Length * dim];
        double Loss() { EmbeddingReference.Forward(y, table, ids, dim); return GradCheck.Dot(y, G); }
        var dt = new float[V * dim];
        if (fast) Embedding.Backward(dt, G, ids, dim); else EmbeddingReference.Backward(dt, G, ids, dim);
        GradCheck.AssertGradient("Embedding dtable", table, dt, Loss, maxProbes: V * dim);
        Assert.All(dt.AsSpan(2 * dim, 2 * dim).ToArray(), v => Assert.Equal(0f, v));   // ids 2, 3 unused
    }

    public static TheoryData<bool, int, int, int, int, int, int, bool> AttentionCases() => new()
    {
        // fast, tq, tk, nh, nkv, hs, qPos0, packed
        { true, 4, 4, 2, 2, 6, 0, false }, { false, 4, 4, 2, 2, 6, 0, false },
        { true, 3, 7, 4, 2, 5, 4, false }, { false, 3, 7, 4, 2, 5, 4, false },   // GQA, queries after a cache
        { true, 6, 6, 3, 1, 4, 0, true }, { false, 6, 6, 3, 1, 4, 0, true },     // MQA, packed segments
        { true, 17, 21, 2, 1, 3, 4, true }, { true, 18, 18, 4, 2, 5, 0, false }, // blocked GEMM path (tq >= 16)
    };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void AttentionGradients(bool fast, int tq, int tk, int nh, int nkv, int hs, int qPos0, bool packed)
    {
        var q = Rand(17, tq * nh * hs); var k = Rand(18, tk * nkv * hs); var v = Rand(19, tk * nkv * hs);
        var G = Rand(20, tq * nh * hs);
        int[] seg = !packed ? [] : tk == 6 ? [0, 0, 1, 1, 1, 2] : Enumerable.Range(0, tk).Select(j => j * 3 / tk).ToArray();
        var o = new float[q.Length]; var probs = new float[nh * tq * tk];
        double Loss() { AttentionReference.Forward(o, q, k, v, tq, tk, nh, nkv, hs, qPos0, seg, probs); return GradCheck.Dot(o, G); }
        Loss();
        var dq = new float[q.Length]; var dk = new float[k.Length]; var dv = new float[v.Length];
        if (fast) Attention.Backward(dq, dk, dv, G, q, k, v, probs, tq, tk, nh, nkv, hs, qPos0);
        else AttentionReference.Backward(dq, dk, dv, G, q, k, v, probs, tq, tk, nh, nkv, hs, qPos0);
        GradCheck.AssertGradient("Attention dq", q, dq, Loss, h: 1e-3f);
        GradCheck.AssertGradient("Attention dk", k, dk, Loss, h: 1e-3f);
        GradCheck.AssertGradient("Attention dv", v, dv, Loss, h: 1e-3f);
    }
}
