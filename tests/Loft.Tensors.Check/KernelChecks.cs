// Every fast kernel against its scalar oracle in Kernels/Reference, over all tails (lengths 0..257) and a
// table of odd shapes. Shared by the xunit tests (in process) and Program (child processes per ISA).
using System.Globalization;
using Loft.Tensors.Kernels;
using Loft.Tensors.Kernels.Reference;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Check;

public static partial class KernelChecks
{
    /// <summary>The instruction set the GEMM selected in this process (V512, V256, V128 or Scalar).</summary>
    public static string InstructionSet => MatMul.Level.ToString();

    public static IReadOnlyList<(string Name, Action Check)> All { get; } =
    [
        ("matmul.forward", () => MatMulForwardChecks(bias: false)),
        ("matmul.forward.bias", () => MatMulForwardChecks(bias: true)),
        ("matmul.backward-input", MatMulBackwardInputChecks),
        ("matmul.backward-weight", MatMulBackwardWeightChecks),
        ("matmul.threads", MatMulThreadChecks),
        ("elementwise.parallel", ElementwiseParallelChecks),
        ("matmul.packed", MatMulPackedChecks),
        ("rmsnorm.forward", RmsNormForwardChecks),
        ("rope.forward", RopeForwardChecks),
        ("softmax.forward", SoftmaxForwardChecks),
        ("softmax.exp-shifted", ExpShiftedChecks),
        ("swiglu.forward", SwiGluForwardChecks),
        ("add.forward", AddForwardChecks),
        ("add.inplace", AddInPlaceChecks),
        ("embedding.forward", EmbeddingForwardChecks),
        ("attention.forward", AttentionForwardChecks),
        .. BackwardChecks,
    ];

    public static void Run(string name)
    {
        foreach (var (n, c) in All)
            if (n == name) { c(); return; }
        throw new ArgumentException($"no kernel check named '{name}'", nameof(name));
    }

    /// <summary>(m, k, n) shapes: 1, primes, the micro-tile edges (6, 32), KC = 256 and MC = 480 crossings, split-K, and
    /// the rows-outer order of a tall C.</summary>
    public static readonly (int M, int K, int N)[] MatMulShapes =
    [
        (1, 1, 1), (1, 7, 3), (1, 64, 64), (1, 257, 33), (1, 288, 768), (2, 5, 7), (3, 17, 31), (4, 33, 32),
        (5, 100, 65), (7, 19, 97), (8, 256, 13), (9, 3, 5), (6, 32, 32), (6, 256, 32), (12, 64, 64), (13, 1, 29),
        (13, 257, 47), (17, 300, 33), (31, 31, 31), (37, 513, 67), (64, 64, 64), (97, 11, 257), (128, 96, 2),
        (2, 96, 128), (500, 7, 35), (487, 40, 3), (11, 3, 2100), (7, 9, 4103), (16, 520, 40), (13, 512, 40),
        (500, 600, 130), (600, 130, 500), (1500, 520, 128), // packed B over a tall, narrow C: C blocks through all of K
        (1, 0, 5), (9, 0, 5), (0, 4, 4), (4, 4, 0),
    ];

    static void MatMulForwardChecks(bool bias)
    {
        foreach (var (m, k, n) in MatMulShapes)
        {
            var rng = new Random(m * 1000003 + k * 1009 + n);
            var x = Rand(rng, m * k); var w = Rand(rng, n * k); var b = bias ? Rand(rng, n) : [];
            var expected = new float[m * n]; var actual = Fill(m * n, float.NaN);
            MatMulReference.Forward(expected, x, w, b, m, k, n);
            MatMul.Forward(actual, x, w, b, m, k, n);
            Compare($"MatMul.Forward m={m} k={k} n={n} bias={bias}", expected, actual, atol: DotTolerance(k), rtol: 1e-5f);
        }
    }

    static void MatMulBackwardInputChecks()
    {
        foreach (var (m, k, n) in MatMulShapes)
        {
            var rng = new Random(m * 7 + k * 131 + n * 3);
            var dy = Rand(rng, m * n); var w = Rand(rng, n * k);
            var expected = Rand(rng, m * k); var actual = (float[])expected.Clone();
            MatMulReference.BackwardInput(expected, dy, w, m, k, n);
            MatMul.BackwardInput(actual, dy, w, m, k, n);
            Compare($"MatMul.BackwardInput m={m} k={k} n={n}", expected, actual, atol: DotTolerance(n), rtol: 1e-5f);
        }
    }

    static void MatMulBackwardWeightChecks()
    {
        foreach (var (m, k, n) in MatMulShapes)
        {
            var rng = new Random(m * 11 + k * 13 + n * 17);
            var dy = Rand(rng, m * n); var x = Rand(rng, m * k);
            var expected = Rand(rng, n * k); var actual = (float[])expected.Clone();
            MatMulReference.BackwardWeight(expected, dy, x, m, k, n);
            MatMul.BackwardWeight(actual, dy, x, m, k, n);
            Compare($"MatMul.BackwardWeight m={m} k={k} n={n}", expected, actual, atol: DotTolerance(m), rtol: 1e-5f);
        }
    }

    /// <summary>Forward with a pre-packed weight, before and after Repack with new values.</summary>
    static void MatMulPackedChecks()
    {
        foreach (var (m, k, n) in MatMulShapes)
        {
            if (k == 0 || n == 0) continue;
            var rng = new Random(m + 3 * k + 7 * n);
            var x = Rand(rng, m * k); var b = Rand(rng, n);
            using var packed = new PackedWeight(Rand(rng, n * k), n, k);
            var w = Rand(rng, n * k);
            packed.Repack(w);
            var expected = new float[m * n]; var actual = Fill(m * n, float.NaN);
            MatMulReference.Forward(expected, x, w, b, m, k, n);
            MatMul.Forward(actual, x, packed, b, m);
            Compare($"MatMul.Forward(packed) m={m} k={k} n={n}", expected, actual, DotTolerance(k), 1e-5f);

            // Packed for the input gradient: dx (m, k) += dy (m, n) · W.
            using var packedInput = new PackedWeight(w, n, k, forInputGradient: true);
            var dy = Rand(rng, m * n); var dx0 = Rand(rng, m * k);
            var dxE = (float[])dx0.Clone(); var dxA = (float[])dx0.Clone();
            MatMulReference.BackwardInput(dxE, dy, w, m, k, n);
            MatMul.BackwardInput(dxA, dy, packedInput, m);
            Compare($"MatMul.BackwardInput(packed) m={m} k={k} n={n}", dxE, dxA, DotTolerance(n), 1e-5f);
        }
    }

    /// <summary>Same products on pools of 1, 2 and 3 threads (column and row splits, inline runs).</summary>
    static void MatMulThreadChecks()
    {
        // The last three pack B once, shared, then split rows (MatMul.SharedPackMin).
        (int M, int K, int N)[] shapes = [(1, 300, 1000), (7, 64, 301), (64, 70, 64), (200, 33, 40), (45, 260, 500),
            (300, 290, 500), (480, 700, 96), (100, 1100, 70)];
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new WorkerPool(threads);
            foreach (var (m, k, n) in shapes)
            {
                var rng = new Random(threads + m + k + n);
                var x = Rand(rng, m * k); var w = Rand(rng, n * k); var b = Rand(rng, n);
                var expected = new float[m * n]; var actual = Fill(m * n, float.NaN);
                MatMulReference.Forward(expected, x, w, b, m, k, n);
                MatMul.Forward(actual, x, w, b, m, k, n, pool);
                Compare($"MatMul.Forward threads={threads} m={m} k={k} n={n}", expected, actual, DotTolerance(k), 1e-5f);
            }
        }
    }

    /// <summary>Inputs large enough to split over the shared pool (Elementwise.Block), against the reference; twice,
    /// bit-identical (fixed blocks, partial sums added in block order).</summary>
    static void ElementwiseParallelChecks()
    {
        const int rows = 301, dim = 288, nh = 6, hs = 48, maxPos = 400;
        var rng = new Random(5);
        var x = Rand(rng, rows * dim, 2f); var w = Rand(rng, dim); var dy = Rand(rng, rows * dim);
        var g = Rand(rng, rows * dim, 6f); var u = Rand(rng, rows * dim, 3f);
        var table = new RopeTable(hs, maxPos, 10000f);
        var pos = new int[rows];
        for (int i = 0; i < rows; i++) pos[i] = rng.Next(maxPos);
        int n = rows * dim;
        float[]? previous = null;
        foreach (int run in new[] { 1, 2 })
        {
            int threads = WorkerPool.Shared.ThreadCount;
            // RMSNorm forward and backward.
            var ye = new float[n]; var re = new float[rows]; var ya = Fill(n, float.NaN); var ra = Fill(rows, float.NaN);
            RmsNormReference.Forward(ye, re, x, w, rows, dim, 1e-5f);
            RmsNorm.Forward(ya, ra, x, w, rows, dim, 1e-5f);
            Compare($"RmsNorm.Forward parallel threads={threads}", ye, ya, 1e-5f, 1e-5f);
            var dxE = Rand(new Random(6), n); var dwE = Rand(new Random(7), dim);
            var dxA = (float[])dxE.Clone(); var dwA = (float[])dwE.Clone();
            RmsNormReference.Backward(dxE, dwE, dy, x, w, re, rows, dim);
            RmsNorm.Backward(dxA, dwA, dy, x, w, re, rows, dim);
            Compare($"RmsNorm.Backward dx parallel threads={threads}", dxE, dxA, 1e-5f, 1e-4f);
            Compare($"RmsNorm.Backward dw parallel threads={threads}", dwE, dwA, 1e-3f, 1e-4f);
            // SwiGLU forward and backward, residual add.
            var se = new float[n]; var sa = Fill(n, float.NaN);
            SwiGluReference.Forward(se, g, u);
            SwiGlu.Forward(sa, g, u);
            Compare($"SwiGlu.Forward parallel threads={threads}", se, sa, 1e-6f, 1e-5f);
            var dgE = new float[n]; var duE = new float[n]; var dgA = new float[n]; var duA = new float[n];
            SwiGluReference.Backward(dgE, duE, dy, g, u);
            SwiGlu.Backward(dgA, duA, dy, g, u);
            Compare($"SwiGlu.Backward dgate parallel threads={threads}", dgE, dgA, 1e-5f, 1e-4f);
            Compare($"SwiGlu.Backward dup parallel threads={threads}", duE, duA, 1e-5f, 1e-4f);
            var addE = new float[n]; var addA = Fill(n, float.NaN);
            for (int i = 0; i < n; i++) addE[i] = x[i] + dy[i];
            Add.Forward(addA, x, dy);
            Compare($"Add.Forward parallel threads={threads}", addE, addA, 0f, 0f);
            // RoPE forward (in place) and backward (accumulating).
            var qe = (float[])x.Clone(); var qa = (float[])x.Clone();
            RopeReference.Forward(qe, pos, nh, hs, table);
            Rope.Forward(qa, pos, nh, hs, table);
            Compare($"Rope.Forward parallel threads={threads}", qe, qa, 1e-6f, 1e-5f);
            var qo = Fill(x.Length, float.NaN);
            Rope.Forward(qo, x, pos, nh, hs, table);
            Compare($"Rope.Forward(y, x) parallel threads={threads}", qe, qo, 1e-6f, 1e-5f);
            var bE = (float[])u.Clone(); var bA = (float[])u.Clone();
            RopeReference.Backward(bE, dy, pos, nh, hs, table);
            Rope.Backward(bA, dy, pos, nh, hs, table);
            Compare($"Rope.Backward parallel threads={threads}", bE, bA, 1e-6f, 1e-5f);
            float[] all = [.. ya, .. ra, .. dxA, .. dwA, .. sa, .. dgA, .. duA, .. qa, .. bA];
            if (previous != null) Compare($"elementwise run {run} vs run 1 (bit-identical)", previous, all, 0f, 0f);
            previous = all;
        }
    }

    static void RmsNormForwardChecks()
    {
        const int rows = 3;
        for (int dim = 1; dim <= 257; dim++)   // dim 0 has no mean
        {
            var rng = new Random(dim);
            var x = Rand(rng, rows * dim, 3f); var w = Rand(rng, dim);
            var ye = new float[rows * dim]; var ya = Fill(rows * dim, float.NaN);
            var re = new float[rows]; var ra = Fill(rows, float.NaN);
            RmsNormReference.Forward(ye, re, x, w, rows, dim, 1e-5f);
            RmsNorm.Forward(ya, ra, x, w, rows, dim, 1e-5f);
            Compare($"RmsNorm.Forward y dim={dim}", ye, ya, 1e-6f, 1e-5f);
            Compare($"RmsNorm.Forward rstd dim={dim}", re, ra, 1e-6f, 1e-5f);
            RmsNorm.Forward(ya, [], x, w, rows, dim, 1e-5f);
            Compare($"RmsNorm.Forward (no rstd) dim={dim}", ye, ya, 1e-6f, 1e-5f);
        }
    }

    static void RopeForwardChecks()
    {
        foreach (int hs in new[] { 2, 4, 6, 8, 10, 16, 18, 32, 34, 48, 64, 66, 96, 128, 130 })
            foreach (int nh in new[] { 1, 3 })
            {
                const int T = 5, maxPos = 40;
                var table = new RopeTable(hs, maxPos, 10000f);
                var rng = new Random(hs * 10 + nh);
                var x = Rand(rng, T * nh * hs);
                int[] pos = [0, 1, maxPos - 1, rng.Next(maxPos), 7];
                var expected = (float[])x.Clone(); var actual = (float[])x.Clone();
                RopeReference.Forward(expected, pos, nh, hs, table);
                Rope.Forward(actual, pos, nh, hs, table);
                Compare($"Rope.Forward hs={hs} nh={nh}", expected, actual, 1e-6f, 1e-5f);
                var y = Fill(T * nh * hs, float.NaN); var x0 = (float[])x.Clone();
                Rope.Forward(y, x, pos, nh, hs, table);
                Compare($"Rope.Forward(y, x) hs={hs} nh={nh}", expected, y, 1e-6f, 1e-5f);
                Compare($"Rope.Forward(y, x) leaves x hs={hs} nh={nh}", x0, x, 0f, 0f);
            }
    }

    static void SoftmaxForwardChecks()
    {
        const int rows = 3;
        for (int cols = 0; cols <= 257; cols++)
        {
            var rng = new Random(cols);
            var x = Rand(rng, rows * cols, 20f);
            for (int i = 0; i < cols; i++) x[cols + i] += 90f;   // large logits: needs the max shift
            if (cols > 2) x[2 * cols + 1] = float.NegativeInfinity;   // a masked entry
            var ye = new float[rows * cols]; var ya = Fill(rows * cols, float.NaN);
            SoftmaxReference.Forward(ye, x, rows, cols);
            Softmax.Forward(ya, x, rows, cols);
            Compare($"Softmax.Forward cols={cols}", ye, ya, 1e-7f, 1e-5f);
        }
    }

    // The fused exp pass: x = exp(x - shift) with Σ in double and the max of the inputs, over every tail and across the
    // 1024-element summation blocks.
    static unsafe void ExpShiftedChecks()
    {
        foreach (int n in Enumerable.Range(0, 258).Concat([1023, 1024, 1025, 2100]))
        {
            var rng = new Random(n);
            var x = Rand(rng, n, 20f);
            if (n > 5) x[3] = float.NegativeInfinity;   // a masked entry: exp gives 0
            float shift = n > 0 ? x[n - 1] : 0f;     // a shift that is not the max, as the loss uses it
            double max = n > 0 ? x.Max() : double.NegativeInfinity;
            var want = x.Select(v => Math.Exp(v - shift)).ToArray();   // the difference in float, as the kernels take it
            var a = (float[])x.Clone(); var b = (float[])x.Clone();
            double sa, sb;
            float got;
            fixed (float* pa = a, pb = b)
            {
                sa = Softmax.ExpShiftedSum(pa, n, shift);
                sb = Softmax.ExpShiftedSumMax(pb, n, shift, out got);
            }
            Compare($"ExpShiftedSum n={n}", want.Select(v => (float)v).ToArray(), a, 0f, 1e-6f);
            Compare($"ExpShiftedSumMax n={n}", a, b, 0f, 0f);
            if (Math.Abs(sa - want.Sum()) > 1e-5 * want.Sum() || sb != sa) throw new CheckFailedException($"ExpShiftedSum(Max) n={n}: sums {sa}, {sb} vs {want.Sum()}");
            if (got != (float)max) throw new CheckFailedException($"ExpShiftedSumMax n={n}: max {got} vs {max}");
        }
    }

    static void SwiGluForwardChecks()
    {
        for (int len = 0; len <= 257; len++)
        {
            var rng = new Random(len);
            var g = Rand(rng, len, 12f); var u = Rand(rng, len, 3f);
            var ye = new float[len]; var ya = Fill(len, float.NaN);
            SwiGluReference.Forward(ye, g, u);
            SwiGlu.Forward(ya, g, u);
            Compare($"SwiGlu.Forward len={len}", ye, ya, 1e-6f, 1e-5f);
        }
    }

    static void AddForwardChecks()
    {
        for (int len = 0; len <= 257; len++)
        {
            var rng = new Random(len);
            var a = Rand(rng, len); var b = Rand(rng, len);
            var ye = new float[len]; var ya = Fill(len, float.NaN);
            AddReference.Forward(ye, a, b);
            Add.Forward(ya, a, b);
            Compare($"Add.Forward len={len}", ye, ya, 0f, 0f);
        }
    }

    static void AddInPlaceChecks()
    {
        for (int len = 0; len <= 257; len++)
        {
            var rng = new Random(len);
            var x = Rand(rng, len); var ye = Rand(rng, len); var ya = (float[])ye.Clone();
            AddReference.InPlace(ye, x);
            Add.InPlace(ya, x);
            Compare($"Add.InPlace len={len}", ye, ya, 0f, 0f);
        }
    }

    static void EmbeddingForwardChecks()
    {
        const int V = 7;
        int[] ids = [3, 0, 6, 3, 1];
        for (int dim = 1; dim <= 257; dim++)
        {
            var rng = new Random(dim);
            var table = Rand(rng, V * dim);
            var ye = new float[ids.Length * dim]; var ya = Fill(ids.Length * dim, float.NaN);
            EmbeddingReference.Forward(ye, table, ids, dim);
            Embedding.Forward(ya, table, ids, dim);
            Compare($"Embedding.Forward dim={dim}", ye, ya, 0f, 0f);
        }
    }

    /// <summary>(tq, tk, nh, nkv, hs, qPos0, packed): decode, prefill, chunked prefill, GQA/MQA/MHA, odd head sizes.</summary>
    public static readonly (int Tq, int Tk, int Nh, int Nkv, int Hs, int QPos0, bool Packed)[] AttentionShapes =
    [
        (1, 1, 1, 1, 1, 0, false), (1, 1, 2, 1, 8, 0, false), (1, 9, 4, 2, 16, 8, false), (1, 37, 6, 6, 48, 36, false),
        (1, 300, 8, 2, 64, 299, false), (1, 20, 4, 4, 16, 10, false), (5, 5, 2, 2, 3, 0, false), (7, 7, 4, 1, 17, 0, false),
        (16, 16, 6, 3, 32, 0, false), (4, 11, 4, 2, 8, 7, false), (3, 40, 2, 1, 64, 20, false), (33, 33, 4, 2, 64, 0, false),
        (12, 12, 2, 2, 8, 0, true), (9, 20, 4, 2, 16, 11, true), (40, 40, 3, 1, 33, 0, true), (1, 25, 4, 4, 16, 24, true),
        // GEMM path (tq >= Attention.GemmMinRows): several query blocks, queries after a cache, segments
        (20, 50, 4, 2, 16, 30, false), (70, 70, 6, 3, 48, 0, true), (130, 130, 2, 2, 8, 0, false), (65, 90, 2, 1, 64, 25, true),
    ];

    static void AttentionForwardChecks()
    {
        foreach (var (tq, tk, nh, nkv, hs, qPos0, packed) in AttentionShapes)
        {
            var rng = new Random(tq * 31 + tk * 7 + nh + hs);
            var q = Rand(rng, tq * nh * hs, 2f); var k = Rand(rng, tk * nkv * hs, 2f); var v = Rand(rng, tk * nkv * hs);
            int[] seg = packed ? Segments(rng, tk) : [];
            var oe = new float[tq * nh * hs]; var oa = Fill(tq * nh * hs, float.NaN);
            var pe = new float[nh * tq * tk]; var pa = Fill(nh * tq * tk, float.NaN);
            string shape = $"tq={tq} tk={tk} nh={nh} nkv={nkv} hs={hs} qPos0={qPos0} packed={packed}";
            AttentionReference.Forward(oe, q, k, v, tq, tk, nh, nkv, hs, qPos0, seg, pe);
            Attention.Forward(oa, q, k, v, tq, tk, nh, nkv, hs, qPos0, seg, pa);
            Compare($"Attention.Forward output {shape}", oe, oa, 2e-6f, 1e-5f);
            Compare($"Attention.Forward probs {shape}", pe, pa, 1e-7f, 1e-5f);
            Array.Fill(oa, float.NaN);
            Attention.Forward(oa, q, k, v, tq, tk, nh, nkv, hs, qPos0, seg, []);
            Compare($"Attention.Forward (no probs) {shape}", oe, oa, 2e-6f, 1e-5f);
        }
    }

    /// <summary>Packed-sequence ids: runs of random length, increasing ids.</summary>
    public static int[] Segments(Random rng, int tk)
    {
        var s = new int[tk];
        int id = 0, left = rng.Next(1, 6);
        for (int j = 0; j < tk; j++)
        {
            if (left-- == 0) { id++; left = rng.Next(0, 6); }
            s[j] = id;
        }
        return s;
    }

    // ---- helpers ----

    /// <summary>Absolute tolerance of a length-k float dot product of values in [-1, 1] (error grows like k·eps in the worst case).</summary>
    static float DotTolerance(int k) => 2e-6f + 4e-7f * k;

    public static float[] Rand(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    public static float[] Fill(int n, float value)
    {
        var a = new float[n];
        Array.Fill(a, value);
        return a;
    }

    /// <summary>Throws naming the case, the first bad index and both values when |e - a| > atol + rtol·|e| (NaN never passes).</summary>
    public static void Compare(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol)
    {
        if (expected.Length != actual.Length)
            throw new CheckFailedException($"{what}: length {actual.Length}, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (e == a) continue;   // covers equal infinities
            if (!(Math.Abs(e - a) <= atol + rtol * Math.Abs(e)))
                throw new CheckFailedException(string.Create(CultureInfo.InvariantCulture,
                    $"{what}: index {i} is {a:R}, expected {e:R} (|diff| {Math.Abs(e - a):G3} > atol {atol:G3} + rtol {rtol:G3}·|expected|)"));
        }
    }
}

public sealed class CheckFailedException(string message) : Exception(message);
