// One central-finite-difference gradient check per autograd function (double-accumulated objective, float32
// kernels), each with the op's own step and tolerance; shapes cover vector tails, GQA, padding segments and chunking.
using Loft.Autograd.Functions;
using RopeTable = Loft.Tensors.Kernels.RopeTable;

namespace Loft.Autograd.Tests;

public class GradCheckTests
{
    static Var Rand(Random rng, int[] shape, bool requiresGrad = true, float scale = 1f, float offset = 0f)
    {
        int n = 1;
        foreach (var d in shape) n *= d;
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = offset + scale * (float)(rng.NextDouble() * 2 - 1);
        return Var.Leaf(v, shape, requiresGrad);
    }

    static void AssertPasses(GradCheckResult r, int expectedChecked)
    {
        Assert.Equal(expectedChecked, r.Checked);
        Assert.True(r.Passed, $"gradient mismatch at {r.Worst}: analytic {r.WorstAnalytic:G9}, numeric {r.WorstNumeric:G9}, |diff| {r.MaxAbsError:G3}");
    }

    [Fact]
    public void Linear_WithBias()
    {
        var rng = new Random(1);
        var x = Rand(rng, [3, 5]); var w = Rand(rng, [4, 5]); var b = Rand(rng, [4]);
        var r = GradCheck.Run(t => Linear.Apply(t, x, w, b), [x, w, b], step: 1e-2, atol: 1e-3, rtol: 1e-3);
        AssertPasses(r, 15 + 20 + 4);
    }

    [Fact]
    public void Linear_FrozenWeightGetsNoGradientAndXStillDoes()
    {
        var rng = new Random(2);
        var x = Rand(rng, [2, 3, 6]); var w = Rand(rng, [5, 6], requiresGrad: false);
        var r = GradCheck.Run(t => Linear.Apply(t, x, w), [x, w], step: 1e-2, atol: 1e-3, rtol: 1e-3);
        AssertPasses(r, 36);
        Assert.True(w.Grad.IsEmpty);
    }

    [Fact]
    public void LoraLinear_AllInputs()
    {
        var rng = new Random(3);
        var x = Rand(rng, [3, 5]); var w = Rand(rng, [4, 5]); var b = Rand(rng, [4]);
        var a = Rand(rng, [2, 5]); var bb = Rand(rng, [4, 2]);
        var r = GradCheck.Run(t => LoraLinear.Apply(t, x, w, b, a, bb, scaling: 2f), [x, w, b, a, bb], step: 1e-2, atol: 2e-3, rtol: 2e-3);
        AssertPasses(r, 15 + 20 + 4 + 10 + 8);
    }

    [Fact]
    public void RmsNorm_InputAndWeight()
    {
        var rng = new Random(4);
        var x = Rand(rng, [3, 19]); var w = Rand(rng, [19], scale: 0.5f, offset: 1f);
        var r = GradCheck.Run(t => RmsNorm.Apply(t, x, w, 1e-5f), [x, w], step: 1e-3, atol: 2e-3, rtol: 5e-3);
        AssertPasses(r, 57 + 19);
    }

    [Fact]
    public void Rope_RotateHalf()
    {
        var rng = new Random(5);
        var table = new RopeTable(8, 16, 10000f);
        var x = Rand(rng, [4, 2 * 8]);
        int[] pos = [0, 3, 1, 15];
        var r = GradCheck.Run(t => Rope.Apply(t, x, pos, 2, 8, table), [x], step: 1e-2, atol: 1e-3, rtol: 1e-3);
        AssertPasses(r, 64);
    }

    [Fact]
    public void Attention_CausalGqaWithPaddingSegments()
    {
        var rng = new Random(6);
        const int B = 2, T = 5, nh = 4, nkv = 2, hs = 4;
        var q = Rand(rng, [B * T, nh * hs]); var k = Rand(rng, [B * T, nkv * hs]); var v = Rand(rng, [B * T, nkv * hs]);
        int[] seg = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];   // row 1 right-padded by two tokens
        var r = GradCheck.Run(t => Attention.Apply(t, q, k, v, B, T, nh, nkv, hs, seg), [q, k, v], step: 1e-2, atol: 2e-3, rtol: 5e-3);
        AssertPasses(r, q.Length + k.Length + v.Length);
    }

    [Fact]
    public void SwiGlu_GateAndUp()
    {
        var rng = new Random(7);
        var g = Rand(rng, [3, 7], scale: 3f); var u = Rand(rng, [3, 7]);
        var r = GradCheck.Run(t => SwiGlu.Apply(t, g, u), [g, u], step: 1e-2, atol: 1e-3, rtol: 2e-3);
        AssertPasses(r, 42);
    }

    [Fact]
    public void Embedding_ScatterAddsRepeatedIds()
    {
        var rng = new Random(8);
        var table = Rand(rng, [6, 4]);
        int[] ids = [1, 3, 1, 5, 0, 1];
        var r = GradCheck.Run(t => Embedding.Apply(t, table, ids), [table], step: 1e-2, atol: 1e-4, rtol: 1e-3);
        AssertPasses(r, 24);
        // Row 2 and 4 never occur: their gradient is exactly zero.
        Assert.All(table.Grad.Slice(2 * 4, 4).ToArray(), g => Assert.Equal(0f, g));
        Assert.All(table.Grad.Slice(4 * 4, 4).ToArray(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Add_BothInputs()
    {
        var rng = new Random(9);
        var a = Rand(rng, [3, 4]); var b = Rand(rng, [3, 4]);
        var r = GradCheck.Run(t => Add.Apply(t, a, b), [a, b], step: 1e-2, atol: 1e-4, rtol: 1e-3);
        AssertPasses(r, 24);
    }

    [Fact]
    public void CrossEntropyWithHead_IgnoreIndexAndChunks()
    {
        var rng = new Random(10);
        var h = Rand(rng, [5, 6]); var w = Rand(rng, [7, 6]);
        int[] targets = [2, -100, 6, 0, -100];
        var r = GradCheck.Run(t => CrossEntropyWithHead.Apply(t, h, w, targets, normaliser: 3, chunk: 2), [h, w], step: 1e-2, atol: 1e-4, rtol: 2e-3);
        AssertPasses(r, 30 + 42);
        // Ignored rows get no gradient.
        Assert.All(h.Grad.Slice(6, 6).ToArray(), g => Assert.Equal(0f, g));
        Assert.All(h.Grad.Slice(24, 6).ToArray(), g => Assert.Equal(0f, g));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void CrossEntropyWithHead_IntoGradientsEqualsTheScratchPath(bool hTrainable, bool headTrainable)
    {
        // The training path puts d loss / d h and d loss / d head straight into the grads during the forward sweep;
        // gradients already present (accumulation over micro-batches) are added to. The terms are summed onto the prior
        // value instead of onto zero first, so the two agree to rounding.
        int[] targets = [2, -100, 6, 0, -100, 3];
        (float[] dh, float[] dw, float loss) Run(bool into)
        {
            var rng = new Random(12);
            var h = Rand(rng, [6, 5], hTrainable); var w = Rand(rng, [7, 5], headTrainable);
            for (int i = 0; i < h.Grad.Length; i++) h.Grad[i] = 0.25f * i;
            for (int i = 0; i < w.Grad.Length; i++) w.Grad[i] = -0.5f * i;
            var tape = new Tape();
            var loss = CrossEntropyWithHead.Apply(tape, h, w, targets, normaliser: 4, chunk: 2, intoGradients: into);
            tape.Backward(loss);
            return (h.Grad.ToArray(), w.Grad.ToArray(), loss.Value[0]);
        }
        var (dh0, dw0, l0) = Run(false);
        var (dh1, dw1, l1) = Run(true);
        Assert.Equal(l0, l1);
        Assert.Equal(dh0.Length, dh1.Length);
        for (int i = 0; i < dh0.Length; i++) Assert.True(Math.Abs(dh0[i] - dh1[i]) <= 1e-6f * (1 + Math.Abs(dh0[i])), $"h grad {i}: {dh0[i]} vs {dh1[i]}");
        Assert.Equal(dw0.Length, dw1.Length);
        for (int i = 0; i < dw0.Length; i++) Assert.True(Math.Abs(dw0[i] - dw1[i]) <= 1e-6f * (1 + Math.Abs(dw0[i])), $"head grad {i}: {dw0[i]} vs {dw1[i]}");
    }

    [Fact]
    public void CrossEntropyWithHead_IntoGradientsRefusesAnUpstreamGradientOtherThanOne()
    {
        var rng = new Random(13);
        var h = Rand(rng, [3, 4]); var w = Rand(rng, [5, 4]);
        var tape = new Tape();
        var loss = CrossEntropyWithHead.Apply(tape, h, w, new[] { 1, 4, 0 }, normaliser: 3, intoGradients: true);
        var e = Assert.Throws<InvalidOperationException>(() => tape.Backward(loss, [2f]));
        Assert.Contains("must be back-propagated with gradient 1, got 2", e.Message);
    }

    [Fact]
    public void Chain_SharedInputAccumulatesFromBothUses()
    {
        // y = Linear(RmsNorm(x)) + x: x feeds two ops, so its gradient is the sum of both paths.
        var rng = new Random(11);
        var x = Rand(rng, [2, 8]); var nw = Rand(rng, [8], scale: 0.2f, offset: 1f); var w = Rand(rng, [8, 8]);
        var r = GradCheck.Run(t => Add.Apply(t, Linear.Apply(t, RmsNorm.Apply(t, x, nw, 1e-5f), w), x), [x, nw, w],
            step: 1e-3, atol: 3e-3, rtol: 5e-3);
        AssertPasses(r, 16 + 8 + 64);
    }
}
