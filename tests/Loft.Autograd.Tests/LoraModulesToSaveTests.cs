// modules_to_save in LoRA training (peft ModulesToSaveWrapper): trainable full copies of lm_head / embed_tokens next
// to the frozen base, PEFT's names, tied embeddings (a saved lm_head is its own copy of the embeddings; a saved
// embed_tokens leaves the head on the frozen original), gradients equal to full fine-tuning's, exact save/load.
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Formats.HuggingFace;
using Loft.Nn.Optim;
using Loft.Peft.Lora;

namespace Loft.Autograd.Tests;

public sealed class LoraModulesToSaveTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("loft-mts-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>The stories260K checkpoint untied: lm_head.weight stored as its own tensor (the embeddings, optionally
    /// perturbed), as an untied LLaMA stores it.</summary>
    sealed class UntiedCheckpoint : ICheckpoint
    {
        readonly ICheckpoint _base;
        readonly float[] _head;
        readonly List<TensorInfo> _tensors;

        public UntiedCheckpoint(ICheckpoint b, float perturb)
        {
            _base = b;
            Config = b.Config with { TieWordEmbeddings = false };
            _head = b.GetFloat32("model.embed_tokens.weight").ToArray();
            var rng = new Random(5);
            for (int i = 0; i < _head.Length; i++) _head[i] += perturb * (float)(rng.NextDouble() - 0.5);
            _tensors = [.. b.Tensors, new TensorInfo("lm_head.weight", TensorDType.F32, b.Shape("model.embed_tokens.weight"), "(memory)", 0, _head.LongLength * 4)];
        }

        public ModelConfig Config { get; }
        public string SourcePath => _base.SourcePath + " (untied)";
        public string FormatName => "memory";
        public IReadOnlyList<TensorInfo> Tensors => _tensors;
        public bool Contains(string name) => name == "lm_head.weight" || _base.Contains(name);
        public TensorInfo GetInfo(string name) => name == "lm_head.weight" ? _tensors[^1] : _base.GetInfo(name);
        public ReadOnlySpan<float> GetFloat32(string name) => name == "lm_head.weight" ? _head : _base.GetFloat32(name);
        public void Dispose() { }
    }

    static LoraOptions Options(params string[] save) => new() { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "v_proj"], ModulesToSave = save };

    static Dictionary<string, float[]> GradsByName(TrainableLlama model) => model.Parameters.ToDictionary(p => p.Name, p => p.Grad.ToArray());

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void TiedLmHeadCopyTrainsAloneAndTheBaseStaysUntouched()
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        Assert.True(ckpt.Config.TieWordEmbeddings);
        var model = TrainableLlama.CreateLora(ckpt, Options("lm_head"), seed: 1);
        const string head = "base_model.model.lm_head.weight";
        Assert.Equal(head, model.Parameters[0].Name);
        Assert.Equal(ckpt.GetFloat32("model.embed_tokens.weight").ToArray(), model.GetTensor(head).Value.ToArray());
        Assert.True(model.GetTensor(head).RequiresGrad);
        Assert.Equal(model.Adapter!.TrainableParameterCount, model.Parameters.Sum(p => (long)p.Length));

        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        var before = model.Parameters.ToDictionary(p => p.Name, p => p.Value.ToArray());
        var opt = new AdamW(model.Parameters, new AdamWOptions { Lr = 1e-2, WeightDecay = 0 });
        for (int i = 0; i < 3; i++)
        {
            model.ZeroGrad();
            model.ForwardBackward(batch);
            opt.Step();
        }
        // Every base tensor is still the checkpoint's (frozen, no gradient buffer); the head copy and the adapter moved.
        foreach (var t in ckpt.Tensors)
        {
            var v = model.GetTensor(t.Name);
            Assert.False(v.RequiresGrad, t.Name);
            Assert.Equal(ckpt.GetFloat32(t.Name).ToArray(), v.Value.ToArray());
        }
        foreach (var p in model.Parameters)
            if (!p.Name.EndsWith("lora_A.weight", StringComparison.Ordinal))   // A moves too, but B starts at 0 so its first steps are tiny
                Assert.NotEqual(before[p.Name], p.Value.ToArray());
        // The adapter object holds the trained copy (shared storage), saved under PEFT's name and read back exactly.
        var saved = Assert.Single(model.Adapter.SavedModules);
        Assert.Equal("lm_head.weight", saved.TensorName);
        Assert.Equal(model.GetTensor(head).Value.ToArray(), saved.Data);
        var dir = Path.Combine(_dir, "tied");
        LoraAdapterFile.Save(model.Adapter, dir);
        using (var f = Loft.Formats.SafeTensors.SafeTensorsFile.Open(Path.Combine(dir, LoraAdapterFile.WeightsFileName)))
        {
            Assert.Contains(head, f.Tensors.Select(t => t.Name));
            Assert.Equal(1 + 2 * 2 * ckpt.Config.NumHiddenLayers, f.Tensors.Count);
        }
        Assert.Contains("\"modules_to_save\": [\n    \"lm_head\"\n  ]", File.ReadAllText(Path.Combine(dir, LoraConfigJson.FileName)).Replace("\r", ""));
        var loaded = LoraAdapterFile.Load(dir, ckpt);
        Assert.Equal(saved.Data, Assert.Single(loaded.SavedModules).Data);
        foreach (var m in model.Adapter.Modules)
        {
            Assert.Equal(m.A, loaded[m.Module].A);
            Assert.Equal(m.B, loaded[m.Module].B);
        }
        // Loading the saved adapter into a new model continues from the same values: identical losses.
        var again = TrainableLlama.CreateLora(ckpt, loaded);
        Assert.Equal(model.ComputeLoss(batch), again.ComputeLoss(batch));
    }

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void SavedModuleGradientsEqualFullFineTuningGradients()
    {
        using var tied = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        using var ckpt = new UntiedCheckpoint(tied, perturb: 0.05f);
        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        var full = TrainableLlama.CreateFull(ckpt);
        full.ForwardBackward(batch);
        var want = GradsByName(full);
        // A fresh adapter (B = 0) computes exactly the base model, so the saved copies see the full model's gradients.
        var lora = TrainableLlama.CreateLora(ckpt, Options("lm_head", "embed_tokens"), seed: 2);
        Assert.Equal(full.ComputeLoss(batch), lora.ForwardBackward(batch), 6);
        var got = GradsByName(lora);
        Assert.Equal(want["lm_head.weight"].Length, got["base_model.model.lm_head.weight"].Length);
        Assert.Null(Fixtures.AllClose(got["base_model.model.lm_head.weight"], want["lm_head.weight"], 1e-7, 1e-5));
        Assert.Null(Fixtures.AllClose(got["base_model.model.model.embed_tokens.weight"], want["model.embed_tokens.weight"], 1e-7, 1e-5));
        Assert.Contains(got["base_model.model.model.embed_tokens.weight"], g => g != 0);
    }

    [SharedFact(Fixtures.Model, Fixtures.LoraGrad)]
    public void TiedSavedEmbeddingsTrainTheInputCopyWhileTheHeadStaysOnTheOriginal()
    {
        // PEFT wraps only embed_tokens: the tied lm_head keeps using the original (frozen) table. That is the untied model
        // whose lm_head equals the embeddings, where the full fine-tune's embedding gradient is the input-side one.
        using var tied = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        using var untied = new UntiedCheckpoint(tied, perturb: 0f);
        var batch = Fixtures.Batch(Fixtures.LoraGrad);
        var full = TrainableLlama.CreateFull(untied);
        full.ForwardBackward(batch);
        var want = GradsByName(full)["model.embed_tokens.weight"];
        var lora = TrainableLlama.CreateLora(tied, Options("embed_tokens"), seed: 2);
        lora.ForwardBackward(batch);
        var got = GradsByName(lora);
        Assert.Equal(["base_model.model.model.embed_tokens.weight"], got.Keys.Where(k => !k.Contains(".lora_")).ToArray());
        Assert.Null(Fixtures.AllClose(got["base_model.model.model.embed_tokens.weight"], want, 1e-7, 1e-5));
        Assert.False(lora.GetTensor("model.embed_tokens.weight").RequiresGrad);
    }

    [SharedFact(Fixtures.Model)]
    public void ModuleToSaveThatTheModelLacksIsNamed()
    {
        using var ckpt = CheckpointLoader.Open(SharedData.Require(Fixtures.Model));
        var adapter = LoraAdapter.Create(Options("lm_head"), ckpt, 1);
        var bad = new LoraAdapter(adapter.Options, adapter.Modules, [new SavedModuleWeights("score.weight", [2, 64], new float[128])]);
        var e = Assert.Throws<InvalidDataException>(() => TrainableLlama.CreateLora(ckpt, bad));
        Assert.Contains("'base_model.model.score.weight'", e.Message);
    }
}
