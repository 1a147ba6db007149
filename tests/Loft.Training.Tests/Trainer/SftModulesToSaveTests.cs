// modules_to_save through SFT on tied stories260K: the trained lm_head / embed_tokens copy is saved in the adapter
// under PEFT's name, and the three ways to use the adapter agree: the training model (LoRA + copies), `loft merge`'s
// folder (LoraMerge, untied) and inference with the adapter unmerged (SavedModulesCheckpoint + LoraModelAdapter).
using System.Text.Json;
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Models.Llama;
using Loft.Peft.Inference;
using Loft.Peft.Lora;
using Loft.Training.Sft;

namespace Loft.Training.Tests.Trainer;

public sealed class SftModulesToSaveTests : IDisposable
{
    const string Model = SftTrainerTests.Model;
    readonly string _dir = Directory.CreateTempSubdirectory("loft-mts-sft-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static readonly int[] Tokens = [1, 403, 407, 261, 378, 268, 300, 290, 350, 271, 260, 395, 29, 344, 308];

    [SharedTheory(Model)]
    [InlineData("lm_head", "lm_head.weight")]
    [InlineData("embed_tokens", "model.embed_tokens.weight")]
    public void TrainedCopyIsSavedAndMergeAndUnmergedInferenceAgree(string module, string tensor)
    {
        string[] names = ["Lily", "Tom", "Ben", "Sue"];
        var data = Path.Combine(_dir, "d.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 24).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
            { ["instruction"] = "Say the name.", ["input"] = $"{names[i % 4]} is a friend.", ["output"] = names[i % 4] })));
        var o = new SftOptions
        {
            Model = SharedData.Require(Model), Data = data, Output = Path.Combine(_dir, module), LoraR = 4, LoraAlpha = 8,
            TargetModules = ["q_proj", "v_proj"], ModulesToSave = [module], LearningRate = 1e-2, BatchSize = 4, MaxLength = 256,
            MaxSteps = 4, EvalSplit = 0, SaveSteps = 0, Threads = 1,
        };
        var trainer = SftTrainer.Create(o);
        trainer.Train();

        using var baseCkpt = CheckpointLoader.Open(o.Model!);
        var adapter = LoraAdapterFile.Load(o.Output!, baseCkpt);
        var copy = Assert.Single(adapter.SavedModules);
        Assert.Equal(tensor, copy.TensorName);
        Assert.Equal([module], adapter.Options.ModulesToSave);
        Assert.NotEqual(baseCkpt.GetFloat32("model.embed_tokens.weight").ToArray(), copy.Data);

        var batch = CausalLmBatch.FromRows([Tokens], [Enumerable.Repeat(1, Tokens.Length).ToArray()], [Tokens]);
        double trained = trainer.Model.ComputeLoss(batch);
        Assert.Equal(trained, TrainableLlama.CreateLora(baseCkpt, adapter).ComputeLoss(batch));

        var merged = Path.Combine(_dir, module + "-merged");
        LoraMerge.MergeToFolder(o.Model!, o.Output!, merged);
        using (var m = CheckpointLoader.Open(merged))
        {
            Assert.False(m.Config.TieWordEmbeddings);
            // The side without a copy keeps the original table.
            string other = tensor == "lm_head.weight" ? "model.embed_tokens.weight" : "lm_head.weight";
            Assert.Equal(baseCkpt.GetFloat32("model.embed_tokens.weight").ToArray(), m.GetFloat32(other).ToArray());
            Assert.Equal(copy.Data, m.GetFloat32(tensor).ToArray());
            double mergedLoss = TrainableLlama.CreateFull(m).ComputeLoss(batch);
            Assert.True(Math.Abs(mergedLoss - trained) <= 1e-5 * trained, $"merged loss {mergedLoss}, trained {trained}");
        }

        // Inference: the merged folder vs the base with the adapter unmerged (what `loft generate --adapter` builds).
        int V = baseCkpt.Config.VocabSize;
        var want = new float[Tokens.Length * V];
        var got = new float[Tokens.Length * V];
        using (var mergedModel = LlamaModel.Load(merged)) mergedModel.ForwardAll(Tokens, want);
        using (var unmerged = LlamaModel.FromCheckpoint(new SavedModulesCheckpoint(CheckpointLoader.Open(o.Model!), adapter, ownsBase: true)))
        {
            Assert.False(unmerged.Config.TieWordEmbeddings);
            LoraModelAdapter.Apply(unmerged, adapter.WithoutSavedModules());
            unmerged.ForwardAll(Tokens, got);
        }
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4f + 1e-4f * Math.Abs(want[i]), $"logit {i}: merged {want[i]}, unmerged {got[i]}");
    }
}
