// LoRA at inference time on the real stories260K HF model: adapter-on logits vs the merged folder, disable/remove
// give the base exactly, save -> load, Prefill/DecodeStep vs ForwardAll, the lora-grad fixture's reference loss,
// and the wrong-base error. Table-driven over target sets {q,v}, {q,k,v,o} and all 7 projections (the fixture).
using System.Text.Json;
using Loft.Models.Llama;
using Loft.Peft.Inference;
using Loft.Peft.Lora;

namespace Loft.Peft.Tests;

public class LoraInferenceTests
{
    const string Hf = "fixtures/stories260K-hf";
    const string GradAdapter = "fixtures/lora-grad/adapter";
    const string Batch = "fixtures/lora-grad/batch.json";

    static int[][] BatchIds() => JsonDocument.Parse(File.ReadAllText(SharedData.Require(Batch))).RootElement.GetProperty("input_ids")
        .EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();

    static int[] Sequence() => BatchIds()[0][..20];

    // "all7" is PEFT's own fixture; the others are created by LoraAdapter.Create with B filled with small random values.
    static LoraAdapter MakeAdapter(string targets, LlamaModel model)
    {
        if (targets == "all7") return LoraAdapterFile.Load(SharedData.Require(GradAdapter), model.Weights);
        var options = new LoraOptions { R = 4, LoraAlpha = 8, TargetModules = targets.Split(',').Select(t => t + "_proj").ToArray() };
        var adapter = LoraAdapter.Create(options, model.Weights, seed: 7);
        var rng = new Random(11);
        foreach (var m in adapter.Modules)
            for (int i = 0; i < m.B.Length; i++) m.B[i] = (rng.NextSingle() - 0.5f) * 0.04f;
        return adapter;
    }

    static float[] Logits(LlamaModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.VocabSize];
        model.ForwardAll(tokens, logits);
        return logits;
    }

    static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    // Equal within 1e-5 of the logits' scale: |actual - expected| <= 1e-5 · max(1, max |expected|) for every element.
    // Merged weights and the unmerged adapter sum in other orders; over five layers the float32 rounding of either
    // reaches about 1e-5 on single logits of this model (measured: 0.8 to 1.4e-5 depending on the attention kernel's
    // summation order), while the logits themselves span ±10.
    static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 1f;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        float tolerance = 1e-5f * scale;
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
                Assert.Fail($"element {i}: expected {expected[i]:R}, got {actual[i]:R} (difference {Math.Abs(actual[i] - expected[i]):R}, tolerance {tolerance:R})");
    }

    [SharedTheory(Hf, GradAdapter)]
    [InlineData("q,v", 10)]
    [InlineData("q,k,v,o", 20)]
    [InlineData("all7", 35)]
    public void AdapterOn_EqualsMergedFolder_AndDisableOrRemoveGiveTheBaseExactly(string targets, int modules)
    {
        var tokens = Sequence();
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        var baseLogits = Logits(model, tokens);
        var adapter = MakeAdapter(targets, model);
        Assert.Equal(modules, adapter.Modules.Count);

        var applied = LoraModelAdapter.Apply(model, adapter);
        Assert.Equal(modules, model.Projections.OfType<LoraLinear>().Count());
        var on = Logits(model, tokens);
        Assert.True(MaxAbsDiff(on, baseLogits) > 1e-3f, "the adapter must change the logits");

        using var dir = new TempDir();
        var files = LoraMerge.MergeToFolder(SharedData.Require(Hf), adapter, dir.Path);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"], files);
        using (var merged = LlamaModel.Load(dir.Path))
            AssertClose(on, Logits(merged, tokens));

        applied.Disable();
        Assert.Equal(baseLogits, Logits(model, tokens));
        applied.Enable();
        Assert.Equal(on, Logits(model, tokens));
        applied.Remove();
        Assert.Empty(model.Projections.OfType<LoraLinear>());
        Assert.Equal(baseLogits, Logits(model, tokens));
        Assert.Equal("the adapter was removed from " + model.Source, Assert.Throws<InvalidOperationException>(applied.Enable).Message);
    }

    [SharedTheory(Hf, GradAdapter)]
    [InlineData("q,v")]
    [InlineData("q,k,v,o")]
    [InlineData("all7")]
    public void SaveThenLoad_GivesIdenticalLogits(string targets)
    {
        var tokens = Sequence();
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        var adapter = MakeAdapter(targets, model);
        LoraModelAdapter.Apply(model, adapter);
        var on = Logits(model, tokens);

        using var dir = new TempDir();
        LoraAdapterFile.Save(adapter, dir.Path);
        using var fresh = LlamaModel.Load(SharedData.Require(Hf));
        LoraModelAdapter.Apply(fresh, LoraAdapterFile.Load(dir.Path, fresh.Weights));
        Assert.Equal(on, Logits(fresh, tokens));
    }

    [SharedTheory(Hf, GradAdapter)]
    [InlineData("q,v")]
    [InlineData("q,k,v,o")]
    [InlineData("all7")]
    public void PrefillAndDecodeSteps_MatchForwardAll(string targets)
    {
        var tokens = Sequence();
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        LoraModelAdapter.Apply(model, MakeAdapter(targets, model));
        var all = Logits(model, tokens);
        int v = model.VocabSize, prefill = 8;
        using var cache = model.CreateCache(1, tokens.Length);
        var step = new float[v];
        model.Prefill(cache, 0, tokens.AsSpan(0, prefill), step);
        AssertClose(all[((prefill - 1) * v)..(prefill * v)], step);
        for (int t = prefill; t < tokens.Length; t++)
        {
            model.DecodeStep(cache, [0], [tokens[t]], step);
            AssertClose(all[(t * v)..((t + 1) * v)], step);
        }
    }

    // The fixture's loss over its padded 2 x 48 batch (71 targets), from inference logits: row 1 is cut before its
    // right padding, which causal attention never lets earlier positions see.
    [SharedTheory(Hf, GradAdapter, Batch)]
    [InlineData(true, 1.8772709369659424)]
    [InlineData(false, 1.8915461301803589)]
    public void LossFromInferenceLogits_EqualsTheLoraGradFixture(bool withAdapter, double expected)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Require(Batch)));
        var root = doc.RootElement;
        int[][] Rows(string key) => root.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
        var ids = Rows("input_ids");
        var mask = Rows("attention_mask");
        var labels = Rows("labels");
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        if (withAdapter) LoraModelAdapter.Apply(model, LoraAdapterFile.Load(SharedData.Require(GradAdapter), model.Weights));
        int v = model.VocabSize, count = 0;
        double total = 0;
        for (int row = 0; row < ids.Length; row++)
        {
            int len = mask[row].Sum();
            var logits = Logits(model, ids[row][..len]);
            for (int t = 0; t + 1 < len; t++)
            {
                int target = labels[row][t + 1];
                if (target == -100) continue;
                var z = logits.AsSpan(t * v, v);
                double max = double.NegativeInfinity, sum = 0;
                foreach (var x in z) max = Math.Max(max, x);
                foreach (var x in z) sum += Math.Exp(x - max);
                total += max + Math.Log(sum) - z[target];
                count++;
            }
        }
        Assert.Equal(71, count);
        Assert.InRange(Math.Abs(total / count - expected) / expected, 0, 1e-5);
    }

    [SharedFact(Hf)]
    public void WrongBase_ThrowsNamingModuleAndShapes_AndLeavesTheModelUntouched()
    {
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        var good = new LoraModuleWeights("model.layers.0.self_attn.q_proj", 4, 64, 64, 2f);
        var bad = new LoraModuleWeights("model.layers.1.self_attn.k_proj", 4, 64, 64, 2f); // k_proj is [32, 64]
        var adapter = new LoraAdapter(new LoraOptions { R = 4 }, [good, bad]);
        var e = Assert.Throws<InvalidDataException>(() => LoraModelAdapter.Apply(model, adapter));
        Assert.Equal("LoRA module 'model.layers.1.self_attn.k_proj': lora_A [4, 64] and lora_B [64, 4] need a base weight of [64, 64] " +
            "but 'model.layers.1.self_attn.k_proj' is [32, 64] (an adapter for a different base model?)", e.Message);
        Assert.Empty(model.Projections.OfType<LoraLinear>());

        var missing = new LoraAdapter(new LoraOptions { R = 4 }, [new LoraModuleWeights("model.layers.9.self_attn.q_proj", 4, 64, 64, 2f)]);
        Assert.Equal($"LoRA module 'model.layers.9.self_attn.q_proj' is not a projection of the model {model.Source} (an adapter for a different base model?)",
            Assert.Throws<InvalidDataException>(() => LoraModelAdapter.Apply(model, missing)).Message);
    }

    [SharedTheory(Hf)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(40)]
    public void LoraLinear_EqualsBasePlusLoraMathForward(int rows)
    {
        using var model = LlamaModel.Load(SharedData.Require(Hf));
        var baseLinear = model.Layers[2].Mlp.DownProj;
        var rng = new Random(rows);
        var w = new LoraModuleWeights(baseLinear.Name, 3, baseLinear.InFeatures, baseLinear.OutFeatures, 1.5f);
        for (int i = 0; i < w.A.Length; i++) w.A[i] = rng.NextSingle() - 0.5f;
        for (int i = 0; i < w.B.Length; i++) w.B[i] = rng.NextSingle() - 0.5f;
        var x = new float[rows * w.InFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() * 2 - 1;

        var expected = new float[rows * w.OutFeatures];
        baseLinear.Forward(expected, x, rows);
        LoraMath.Forward(expected, x, w.A, w.B, rows, w.InFeatures, w.OutFeatures, w.Rank, w.Scaling, new float[rows * w.Rank]);

        var lora = new LoraLinear(baseLinear, w);
        var y = new float[rows * w.OutFeatures];
        lora.Forward(y, x, rows);
        AssertClose(expected, y);
        lora.Enabled = false;
        var plain = new float[y.Length];
        baseLinear.Forward(plain, x, rows);
        lora.Forward(y, x, rows);
        Assert.Equal(plain, y);
    }
}
