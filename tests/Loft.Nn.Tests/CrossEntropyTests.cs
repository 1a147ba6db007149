// Fused chunked cross-entropy against an unfused double-precision reference (ignore_index rows, chunk sizes
// that do not divide T, frozen head), central finite differences, and gradient accumulation over micro-batches.
using Loft.Nn.Losses;

namespace Loft.Nn.Tests;

public class CrossEntropyTests
{
    const int Ign = CrossEntropy.IgnoreIndex;

    static float[] Rand(Random rng, int n, double scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    // loss = Σ_t -log softmax(h_t·Wᵀ)[y_t] / N; dh_t = (p - onehot)·W / N; dW = Σ_t (p - onehot)ᵀ h_t / N.
    static (double Loss, double[] Dh, double[] Dw) Reference(float[] h, float[] w, int[] y, int T, int C, int V, double N)
    {
        double loss = 0;
        var dh = new double[T * C];
        var dw = new double[V * C];
        for (int t = 0; t < T; t++)
        {
            if (y[t] == Ign) continue;
            var z = new double[V];
            for (int v = 0; v < V; v++)
                for (int c = 0; c < C; c++) z[v] += (double)h[t * C + c] * w[v * C + c];
            double max = z.Max();
            double sum = z.Sum(x => Math.Exp(x - max));
            loss += Math.Log(sum) + max - z[y[t]];
            for (int v = 0; v < V; v++)
            {
                double g = (Math.Exp(z[v] - max) / sum - (v == y[t] ? 1 : 0)) / N;
                for (int c = 0; c < C; c++)
                {
                    dh[t * C + c] += g * w[v * C + c];
                    dw[v * C + c] += g * h[t * C + c];
                }
            }
        }
        return (loss / N, dh, dw);
    }

    static void Close(double[] want, float[] got, double atol, double rtol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= atol + rtol * Math.Abs(want[i]), $"{what}[{i}]: {got[i]} vs {want[i]}");
    }

    [Theory]
    [InlineData(13, 16, 37, 1)]
    [InlineData(13, 16, 37, 3)]
    [InlineData(13, 16, 37, 5)]
    [InlineData(13, 16, 37, 128)]
    [InlineData(40, 24, 130, 7)]   // chunk not dividing T
    [InlineData(40, 24, 130, 128)] // 30 rows in one chunk: the packed GEMM path (more than GemvMaxRows)
    [InlineData(70, 9, 33, 16)]    // several GEMM chunks and a short last one
    [InlineData(1, 8, 5, 64)]
    public void MatchesUnfusedDoubleReference(int T, int C, int V, int chunk)
    {
        var rng = new Random(T * 1000 + chunk);
        var h = Rand(rng, T * C, 1.0);
        var w = Rand(rng, V * C, 0.5);
        var y = new int[T];
        for (int t = 0; t < T; t++) y[t] = t % 4 == 1 ? Ign : rng.Next(V);
        int n = CrossEntropy.CountTargets(y);
        double N = n + 3; // a normaliser larger than this micro-batch's targets, as with accumulation
        var (loss, rdh, rdw) = Reference(h, w, y, T, C, V, N);

        var dh = new float[T * C];
        var dw = new float[V * C];
        double got = CrossEntropy.ForwardBackward(dh, dw, h, w, y, T, C, V, N, chunk);
        Assert.True(Math.Abs(got - loss) <= 1e-5 * Math.Abs(loss), $"loss {got} vs {loss}");
        Close(rdh, dh, 1e-6, 1e-4, "dh");
        Close(rdw, dw, 1e-6, 1e-4, "dw");
        for (int t = 0; t < T; t++)
            if (y[t] == Ign)
                for (int c = 0; c < C; c++) Assert.Equal(0f, dh[t * C + c]);

        // Frozen head: dw empty, dh unchanged; forward-only equals the fused loss.
        var dh2 = new float[T * C];
        Assert.Equal(got, CrossEntropy.ForwardBackward(dh2, default, h, w, y, T, C, V, N, chunk), 12);
        Assert.Equal(dh, dh2);
        Assert.True(Math.Abs(CrossEntropy.Forward(h, w, y, T, C, V, N, chunk) - loss) <= 1e-5 * Math.Abs(loss));
    }

    // The softmax pass shifts each row by its target's logit; a max far above it is rescaled (30 < gap < 88) or the row
    // is recomputed (gap beyond exp's float range). Every case against the double reference.
    [Theory]
    [InlineData(0.0)]
    [InlineData(25.0)]
    [InlineData(45.0)]
    [InlineData(87.5)]
    [InlineData(120.0)]
    [InlineData(400.0)]
    public void TargetsFarBelowTheMaxLogit(double gap)
    {
        const int T = 40, C = 8, V = 70, hot = 5;
        var rng = new Random(17);
        var h = Rand(rng, T * C, 1.0);
        var w = Rand(rng, V * C, 0.3);
        // Logit `hot` of every row about `gap` above the rest: w[hot] = gap·h_t/|h_t|² would do it per row; one shared
        // direction with h_t's component along it set makes z_hot = gap + (small) for each row.
        for (int c = 0; c < C; c++) w[hot * C + c] = c == 0 ? (float)gap : 0f;
        for (int t = 0; t < T; t++) h[t * C] = 1f;
        var y = new int[T];
        for (int t = 0; t < T; t++) y[t] = t % 7 == 3 ? hot : (t * 11 + 2) % V == hot ? 0 : (t * 11 + 2) % V;
        double N = T;
        var (loss, rdh, rdw) = Reference(h, w, y, T, C, V, N);
        var dh = new float[T * C];
        var dw = new float[V * C];
        double got = CrossEntropy.ForwardBackward(dh, dw, h, w, y, T, C, V, N, chunk: 16);
        Assert.True(Math.Abs(got - loss) <= 1e-5 * Math.Abs(loss) + 1e-6, $"loss {got} vs {loss}");
        Close(rdh, dh, 1e-6, 1e-4, "dh");
        Close(rdw, dw, 1e-6, 1e-4, "dw");
        Assert.True(Math.Abs(CrossEntropy.Forward(h, w, y, T, C, V, N, chunk: 16) - loss) <= 1e-5 * Math.Abs(loss) + 1e-6);
    }

    [Fact]
    public void GradientsAccumulateAndMatchCentralDifferences()
    {
        const int T = 6, C = 5, V = 11;
        var rng = new Random(42);
        var h = Rand(rng, T * C, 1.0);
        var w = Rand(rng, V * C, 1.0);
        int[] y = [3, Ign, 0, 10, 7, Ign];
        var dh = new float[T * C];
        var dw = new float[V * C];
        dh[0] = 1f; dw[0] = 2f; // backward accumulates with +=
        CrossEntropy.ForwardBackward(dh, dw, h, w, y, T, C, V, 4, chunk: 3);
        dh[0] -= 1f; dw[0] -= 2f;

        double Loss(float[] hh, float[] ww) => CrossEntropy.Forward(hh, ww, y, T, C, V, 4, chunk: 3);
        const float eps = 1e-2f;
        foreach (int i in new[] { 0, 7, 13, 29 })
        {
            var hp = (float[])h.Clone(); hp[i] += eps;
            var hm = (float[])h.Clone(); hm[i] -= eps;
            double fd = (Loss(hp, w) - Loss(hm, w)) / (hp[i] - hm[i]);
            Assert.True(Math.Abs(fd - dh[i]) <= 1e-4 + 1e-3 * Math.Abs(fd), $"dh[{i}]: {dh[i]} vs FD {fd}");
        }
        foreach (int i in new[] { 0, 16, 35, 54 })
        {
            var wp = (float[])w.Clone(); wp[i] += eps;
            var wm = (float[])w.Clone(); wm[i] -= eps;
            double fd = (Loss(h, wp) - Loss(h, wm)) / (wp[i] - wm[i]);
            Assert.True(Math.Abs(fd - dw[i]) <= 1e-4 + 1e-3 * Math.Abs(fd), $"dw[{i}]: {dw[i]} vs FD {fd}");
        }
    }

    [Fact]
    public void MicroBatchesNormalisedByTheWholeBatchEqualOneBatch()
    {
        const int T = 10, C = 8, V = 19;
        var rng = new Random(9);
        var h = Rand(rng, T * C, 1.0);
        var w = Rand(rng, V * C, 1.0);
        int[] y = [1, 2, Ign, Ign, Ign, 5, 6, 7, 8, Ign];
        int total = CrossEntropy.CountTargets(y); // 6: micro-batch 1 has 2, micro-batch 2 has 4
        Assert.Equal(6, total);
        var dhAll = new float[T * C];
        var dwAll = new float[V * C];
        double whole = CrossEntropy.ForwardBackward(dhAll, dwAll, h, w, y, T, C, V, total);

        var dh = new float[T * C];
        var dw = new float[V * C];
        double acc = 0;
        for (int part = 0; part < 2; part++)
        {
            int t0 = part * 5;
            acc += CrossEntropy.ForwardBackward(dh.AsSpan(t0 * C, 5 * C), dw, h.AsSpan(t0 * C, 5 * C), w, y.AsSpan(t0, 5), 5, C, V, total);
        }
        Assert.Equal(whole, acc, 6);
        Close(dhAll.Select(x => (double)x).ToArray(), dh, 1e-7, 1e-5, "dh");
        Close(dwAll.Select(x => (double)x).ToArray(), dw, 1e-7, 1e-5, "dw");
    }

    [Fact]
    public void RepeatedCallsAreBitIdentical()
    {
        const int T = 50, C = 32, V = 300;
        var rng = new Random(8);
        var h = Rand(rng, T * C, 1.0);
        var w = Rand(rng, V * C, 0.5);
        var y = Enumerable.Range(0, T).Select(t => t % 5 == 0 ? Ign : (t * 37) % V).ToArray();
        (double, int[], int[]) Run()
        {
            var dh = new float[T * C];
            var dw = new float[V * C];
            double l = CrossEntropy.ForwardBackward(dh, dw, h, w, y, T, C, V, 40, chunk: 16);
            return (l, dh.Select(BitConverter.SingleToInt32Bits).ToArray(), dw.Select(BitConverter.SingleToInt32Bits).ToArray());
        }
        var (l1, dh1, dw1) = Run();
        var (l2, dh2, dw2) = Run();
        Assert.Equal(BitConverter.DoubleToInt64Bits(l1), BitConverter.DoubleToInt64Bits(l2));
        Assert.Equal(dh1, dh2);
        Assert.Equal(dw1, dw2);
    }

    [Fact]
    public void AllIgnoredGivesZero()
    {
        var dh = new float[6];
        var dw = new float[9];
        Assert.Equal(0.0, CrossEntropy.ForwardBackward(dh, dw, new float[6], new float[9], [Ign, Ign], 2, 3, 3, 1));
        Assert.All(dh, x => Assert.Equal(0f, x));
        Assert.All(dw, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void UniformLogitsGiveLogV()
    {
        // W = 0: every logit is 0, so each counted target costs log V.
        var h = new float[3 * 4];
        h.AsSpan().Fill(1f);
        double loss = CrossEntropy.Forward(h, new float[7 * 4], [0, 6, Ign], 3, 4, 7, 2);
        Assert.Equal(Math.Log(7), loss, 6);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        var h = new float[2 * 3];
        var w = new float[4 * 3];
        Assert.Equal("targets[1] = 4 is outside [0, 4) and is not the ignore index -100 (Parameter 'targets')",
            Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(h, w, [0, 4], 2, 3, 4, 1)).Message);
        Assert.StartsWith("normaliser (target tokens of the accumulated batch) must be finite and > 0",
            Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(h, w, [0, 1], 2, 3, 4, 0)).Message);
        Assert.Equal("w has 12 elements, expected V*C = 5*3 = 15 (Parameter 'w')",
            Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(h, w, [0, 1], 2, 3, 5, 1)).Message);
        Assert.Equal("dh has 5 elements, expected T*C = 2*3 = 6 (or empty) (Parameter 'dh')",
            Assert.Throws<ArgumentException>(() => CrossEntropy.ForwardBackward(new float[5], default, h, w, [0, 1], 2, 3, 4, 1)).Message);
    }
}
