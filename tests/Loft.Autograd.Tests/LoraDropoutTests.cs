// lora_dropout (peft lora.Linear: lora_B(lora_A(dropout(x))) · scaling): the counter-based inverted-dropout masks, the
// masked LoraLinear against finite differences for a fixed mask, and TrainableLlama's train/eval behaviour: p = 0 is
// the old path exactly, evaluation has no dropout, runs are deterministic, checkpointing recomputes the same masks.
using Loft.Autograd.Functions;
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Peft.Lora;

namespace Loft.Autograd.Tests;

public class LoraDropoutTests
{
    static Var Rand(Random rng, int[] shape, bool requiresGrad = true)
    {
        int n = 1;
        foreach (var d in shape) n *= d;
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return Var.Leaf(v, shape, requiresGrad);
    }

    [Theory]
    [InlineData(0.1, 100_003)]
    [InlineData(0.25, 100_000)]
    [InlineData(0.5, 65_537)]
    [InlineData(0.9, 100_001)]
    public void MaskKeepsAboutOneMinusPAndScalesByItsInverse(double p, int n)
    {
        var mask = new float[n];
        Dropout.FillMask(mask, p, seed: 42, stream: 7);
        float scale = (float)(1 / (1 - p));
        int kept = 0;
        double sum = 0;
        foreach (var m in mask)
        {
            Assert.True(m == 0f || m == scale, $"mask value {m} is neither 0 nor 1/(1-p) = {scale}");
            if (m != 0) kept++;
            sum += m;
        }
        // Binomial(n, 1-p): 5 standard deviations.
        double sd = Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(kept - n * (1 - p)) < 5 * sd, $"kept {kept} of {n}, expected {n * (1 - p):F0} ± {5 * sd:F0}");
        Assert.True(Math.Abs(sum / n - 1) < 5 * sd / n * scale, $"mean multiplier {sum / n}, expected 1");
        // Another stream (the next module or pass) is independent: both keep an element with probability (1-p)².
        var other = new float[n];
        Dropout.FillMask(other, p, seed: 42, stream: 8);
        int both = 0;
        for (int i = 0; i < n; i++) if (mask[i] != 0 && other[i] != 0) both++;
        double q = (1 - p) * (1 - p), sdBoth = Math.Sqrt(n * q * (1 - q));
        Assert.True(Math.Abs(both - n * q) < 5 * sdBoth, $"kept by both streams {both} of {n}, expected {n * q:F0} ± {5 * sdBoth:F0}");
        // Neighbouring elements are independent too.
        int pairs = 0;
        for (int i = 0; i + 1 < n; i += 2) if (mask[i] != 0 && mask[i + 1] != 0) pairs++;
        double sdPairs = Math.Sqrt(n / 2 * q * (1 - q));
        Assert.True(Math.Abs(pairs - n / 2 * q) < 5 * sdPairs, $"kept neighbour pairs {pairs} of {n / 2}, expected {n / 2 * q:F0}");
    }

    [Fact]
    public void MaskIsAFunctionOfSeedAndStreamOnly()
    {
        float[] Mask(ulong seed, ulong stream, int n = 1001)
        {
            var m = new float[n];
            Dropout.FillMask(m, 0.3, seed, stream);
            return m;
        }
        Assert.Equal(Mask(1, 5), Mask(1, 5));
        Assert.NotEqual(Mask(1, 5), Mask(1, 6));
        Assert.NotEqual(Mask(1, 5), Mask(2, 5));
        // A prefix of a longer mask is the shorter mask (element i depends on i only, not on the length).
        Assert.Equal(Mask(3, 9, 501), Mask(3, 9, 1000)[..501]);
        var ones = new float[17];
        Dropout.FillMask(ones, 0, 1, 1);
        Assert.All(ones, v => Assert.Equal(1f, v));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.FillMask(ones, 1.0, 1, 1));
        Assert.StartsWith("dropout probability must be in [0, 1)", e.Message);
        Assert.Equal(3UL * 5 + 2, Dropout.Stream(3, 2, 5));
    }

    [Fact]
    public void MaskedLoraLinear_GradientMatchesFiniteDifferencesForAFixedMask()
    {
        var rng = new Random(21);
        var x = Rand(rng, [3, 7]); var w = Rand(rng, [4, 7]); var b = Rand(rng, [4]);
        var a = Rand(rng, [2, 7]); var bb = Rand(rng, [4, 2]);
        var mask = new float[21];
        Dropout.FillMask(mask, 0.4, seed: 5, stream: 0);
        Assert.Contains(0f, mask);
        Assert.Contains(1f / 0.6f, mask);
        var r = GradCheck.Run(t => LoraLinear.Apply(t, x, w, b, a, bb, scaling: 2f, mask), [x, w, b, a, bb], step: 1e-2, atol: 2e-3, rtol: 2e-3);
        Assert.Equal(21 + 28 + 4 + 14 + 8, r.Checked);
        Assert.True(r.Passed, $"gradient mismatch at {r.Worst}: analytic {r.WorstAnalytic:G9}, numeric {r.WorstNumeric:G9}");
    }

    [Fact]
    public void MaskedLoraLinear_DroppedInputsGetOnlyTheBaseGradient()
    {
        // d y / d x through the adapter vanishes where the mask is 0: with W = 0, those x elements get exactly 0.
        var rng = new Random(22);
        var x = Rand(rng, [4, 6]);
        var w = Var.Leaf(new float[5 * 6], [5, 6], requiresGrad: false);
        var a = Rand(rng, [3, 6]); var bb = Rand(rng, [5, 3]);
        var mask = new float[24];
        Dropout.FillMask(mask, 0.5, seed: 9, stream: 1);
        var tape = new Tape();
        var y = LoraLinear.Apply(tape, x, w, null, a, bb, 0.5f, mask);
        tape.Backward(y, Enumerable.Repeat(1f, y.Length).ToArray());
        for (int i = 0; i < mask.Length; i++)
            if (mask[i] == 0) Assert.Equal(0f, x.Grad[i]);
            else Assert.NotEqual(0f, x.Grad[i]);
    }

    [Fact]
    public void AllOnesMaskGivesTheUnmaskedOutputExactly()
    {
        var rng = new Random(23);
        var x = Rand(rng, [5, 9]); var w = Rand(rng, [6, 9]); var a = Rand(rng, [4, 9]); var bb = Rand(rng, [6, 4]);
        var ones = Enumerable.Repeat(1f, 45).ToArray();
        var y0 = LoraLinear.Apply(new Tape(), x, w, null, a, bb, 1.5f).Value.ToArray();
        var y1 = LoraLinear.Apply(new Tape(), x, w, null, a, bb, 1.5f, ones).Value.ToArray();
        Assert.Equal(y0, y1);
        var e = Assert.Throws<ArgumentException>(() => LoraLinear.Apply(new Tape(), x, w, null, a, bb, 1.5f, new float[44]));
        Assert.StartsWith("LoraLinear: the dropout mask has 44 elements, the input var [5, 9] grad has 45", e.Message);
    }

    static LoraAdapter Adapter(ICheckpoint ckpt, double dropout, IReadOnlyList<string>? modulesToSave = null)
    {
        var adapter = LoraAdapter.Create(new LoraOptions { R = 4, LoraAlpha = 8, LoraDropout = dropout, TargetModules = ["q_proj", "v_proj", "down_proj"], ModulesToSave = modulesToSave }, ckpt, seed: 3);
        // A non-zero B so the adapter branch (and its dropout) shows in the loss.
        var rng = new Random(4);
        foreach (var m in adapter.Modules)
            for (int i = 0; i < m.B.Length; i++) m.B[i] = (float)(rng.NextDouble() - 0.5) * 0.2f;
        return adapter;
    }

    static (double Loss, float[][] Grads) Step(TrainableLlama model, CausalLmBatch batch)
    {
        model.ZeroGrad();
        double loss = model.ForwardBackward(batch);
        return (loss, model.Parameters.Select(p => p.Grad.ToArray()).ToArray());
    }

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void DropoutZeroIsTheUndroppedPathExactlyAndEvaluationNeverDrops()
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        var plain = TrainableLlama.CreateLora(ckpt, Adapter(ckpt, 0.0));
        var dropped = TrainableLlama.CreateLora(ckpt, Adapter(ckpt, 0.3), new TrainableLlamaOptions { DropoutSeed = 42 });
        // Evaluation (no_grad, eval mode) ignores dropout: bit-identical to p = 0.
        Assert.Equal(plain.ComputeLoss(batch), dropped.ComputeLoss(batch));
        var p0 = Step(plain, batch);
        // p = 0 in training: the same as the evaluation forward and no mask anywhere (bit-identical losses).
        Assert.Equal(plain.ComputeLoss(batch), p0.Loss);
        var p3 = Step(dropped, batch);
        Assert.NotEqual(p0.Loss, p3.Loss);
        Assert.True(Math.Abs(p3.Loss - p0.Loss) < 0.5, $"dropout 0.3 changes the loss moderately: {p0.Loss} vs {p3.Loss}");
        // Each training pass draws fresh masks.
        var again = Step(dropped, batch);
        Assert.NotEqual(p3.Loss, again.Loss);
        Assert.Equal(2, dropped.TrainingPasses);
        Assert.Equal(plain.ComputeLoss(batch), dropped.ComputeLoss(batch));
    }

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void SameSeedSameMasks_CheckpointingRecomputesTheSameMasks()
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        TrainableLlama Make(int seed, bool checkpointing) => TrainableLlama.CreateLora(ckpt, Adapter(ckpt, 0.2),
            new TrainableLlamaOptions { DropoutSeed = seed, GradientCheckpointing = checkpointing });
        var a = Make(7, false); var b = Make(7, false); var c = Make(7, true); var d = Make(8, false);
        for (int pass = 0; pass < 2; pass++)
        {
            var sa = Step(a, batch); var sb = Step(b, batch); var sc = Step(c, batch); var sd = Step(d, batch);
            Assert.Equal(sa.Loss, sb.Loss);
            Assert.Equal(sa.Grads, sb.Grads);
            Assert.Equal(sa.Loss, sc.Loss);
            for (int i = 0; i < sa.Grads.Length; i++)
                Assert.Null(Fixtures.AllClose(sc.Grads[i], sa.Grads[i], 1e-7, 1e-5));
            Assert.NotEqual(sa.Loss, sd.Loss);
        }
        // Resuming the pass counter resumes the mask stream.
        var e = Make(7, false);
        e.TrainingPasses = 1;
        var a3 = Step(a, batch); var e1 = Step(e, batch);
        Assert.NotEqual(a3.Loss, e1.Loss);   // a is at pass 2, e at pass 1
        var b3 = Step(b, batch);
        Assert.Equal(a3.Loss, b3.Loss);
    }

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void DropoutGradientOfTheAdapterMatchesFiniteDifferencesForThePassMasks()
    {
        // Re-running a pass with the same pass counter reproduces its masks, so the finite-difference loss is the
        // dropped-out model's loss for fixed masks.
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        var model = TrainableLlama.CreateLora(ckpt, Adapter(ckpt, 0.5), new TrainableLlamaOptions { DropoutSeed = 11 });
        var (_, grads) = Step(model, batch);
        var a = model.Parameters.First(p => p.Name.Contains("layers.1.self_attn.v_proj.lora_A"));
        var ga = grads[model.Parameters.ToList().IndexOf(a)];
        double Loss()
        {
            model.TrainingPasses = 0;
            model.ZeroGrad();
            return model.ForwardBackward(batch);
        }
        const float h = 1e-2f;
        int checkedCount = 0;
        for (int i = 0; i < a.Length; i += 13)
        {
            var v = a.Value.Span;
            float orig = v[i];
            v[i] = orig + h; double lp = Loss();
            v[i] = orig - h; double lm = Loss();
            v[i] = orig;
            double numeric = (lp - lm) / (2 * h);
            Assert.True(Math.Abs(numeric - ga[i]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"lora_A[{i}]: analytic {ga[i]:G6}, numeric {numeric:G6}");
            checkedCount++;
        }
        Assert.True(checkedCount >= 10);
    }
}
