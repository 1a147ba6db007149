// Resuming SFT from a checkpoint (TrainingArguments.resume_from_checkpoint) on stories260K: N steps + resume + N steps
// equals 2N steps straight bit for bit (LoRA with dropout and modules_to_save across an epoch boundary with gradient
// accumulation; full fine-tuning), "latest" skips a half-written temporary folder, re-saving a step replaces the
// checkpoint atomically, and a checkpoint that does not match the run is named with its problem.
using System.Text.Json;
using Loft.Peft.Lora;
using Loft.Training.Sft;

namespace Loft.Training.Tests.Trainer;

public sealed class SftResumeTests : IDisposable
{
    const string Model = SftTrainerTests.Model;
    readonly string _dir = Directory.CreateTempSubdirectory("loft-resume-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string WriteData()
    {
        string[] names = ["Lily", "Tom", "Ben", "Sue", "Max"];
        var path = Path.Combine(_dir, "train.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, 40).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["instruction"] = "Say the name.", ["input"] = $"{names[i % 5]} is a friend.", ["output"] = names[i % 5],
        })));
        return path;
    }

    SftOptions Options(string data, string output) => new()
    {
        Model = SharedData.Require(Model), Data = data, Output = Path.Combine(_dir, output),
        LoraR = 4, LoraAlpha = 8, TargetModules = ["q_proj", "v_proj"], LearningRate = 5e-3, BatchSize = 4, MaxLength = 256,
        EvalSplit = 0.1, Threads = 1, SaveSteps = 0,
    };

    static List<JsonElement> Steps(string output) =>
        File.ReadAllLines(Path.Combine(output, TrainerBase.MetricsFileName)).Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .Where(m => m.TryGetProperty("loss", out _)).ToList();

    static void AssertSameSteps(IEnumerable<JsonElement> want, IEnumerable<JsonElement> got)
    {
        var w = want.ToList();
        var g = got.ToList();
        Assert.Equal(w.Select(m => m.GetProperty("step").GetInt32()), g.Select(m => m.GetProperty("step").GetInt32()));
        foreach (var key in (string[])["loss", "lr", "grad_norm", "epoch"])
            Assert.Equal(w.Select(m => m.GetProperty(key).GetDouble()), g.Select(m => m.GetProperty(key).GetDouble()));
    }

    [SharedFact(Model)]
    public void LoraWithDropoutAndModulesToSave_ResumedRunEqualsTheStraightRunBitForBit()
    {
        // 36 training rows, batch 4, accumulation 2: 9 micro-batches = 5 steps per epoch, so steps 4..8 cross the epoch end.
        var o = Options(WriteData(), "straight") with { MaxSteps = 8, SaveSteps = 3, GradAccum = 2, LoraDropout = 0.1, ModulesToSave = ["lm_head"] };
        var straight = SftTrainer.Create(o);
        Assert.Equal(5, straight.UpdatesPerEpoch);
        straight.Train();
        var checkpoint = Path.Combine(o.Output!, "checkpoint-3");
        Assert.Equal(Path.Combine(o.Output!, "checkpoint-6"), TrainerBase.FindLatestCheckpoint(o.Output!));

        var r = o with { Output = Path.Combine(_dir, "resumed"), ResumeFromCheckpoint = checkpoint };
        var resumed = SftTrainer.Create(r);
        var result = resumed.Train();
        Assert.Equal(checkpoint, resumed.ResumedFrom);
        Assert.Equal(8, result.Steps);
        AssertSameSteps(Steps(o.Output!).Skip(3), Steps(r.Output!));
        Assert.Equal(File.ReadAllBytes(Path.Combine(o.Output!, LoraAdapterFile.WeightsFileName)),
            File.ReadAllBytes(Path.Combine(r.Output!, LoraAdapterFile.WeightsFileName)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(o.Output!, "checkpoint-6", TrainerBase.OptimizerFileName)),
            File.ReadAllBytes(Path.Combine(r.Output!, "checkpoint-6", TrainerBase.OptimizerFileName)));
        Assert.Contains("base_model.model.lm_head.weight", resumed.Model.Parameters.Select(p => p.Name));
        Assert.Equal(straight.Model.TrainingPasses, resumed.Model.TrainingPasses);
    }

    [SharedFact(Model)]
    public void FullFineTuning_ResumedRunEqualsTheStraightRun()
    {
        var o = Options(WriteData(), "full") with { Full = true, MaxSteps = 4, SaveSteps = 2, LearningRate = 1e-3, EvalSplit = 0 };
        SftTrainer.Create(o).Train();
        var r = o with { Output = Path.Combine(_dir, "full-resumed"), ResumeFromCheckpoint = Path.Combine(o.Output!, "checkpoint-2") };
        SftTrainer.Create(r).Train();
        AssertSameSteps(Steps(o.Output!).Skip(2), Steps(r.Output!));
        Assert.Equal(File.ReadAllBytes(Path.Combine(o.Output!, "model.safetensors")), File.ReadAllBytes(Path.Combine(r.Output!, "model.safetensors")));
    }

    [SharedFact(Model)]
    public void LatestIgnoresAHalfWrittenTemporaryFolderAndResumesInPlace()
    {
        var o = Options(WriteData(), "crash") with { MaxSteps = 5, SaveSteps = 2 };
        SftTrainer.Create(o).Train();
        var original = Steps(o.Output!);
        var old4 = File.ReadAllBytes(Path.Combine(o.Output!, "checkpoint-4", LoraAdapterFile.WeightsFileName));
        // A crash while saving step 6 leaves only the temporary folder (no trainer_state.json, a cut-off weights file);
        // a stray folder without trainer_state.json is not a checkpoint either.
        var tmp = Directory.CreateDirectory(Path.Combine(o.Output!, ".tmp-checkpoint-6")).FullName;
        File.WriteAllBytes(Path.Combine(tmp, LoraAdapterFile.WeightsFileName), old4[..100]);
        Directory.CreateDirectory(Path.Combine(o.Output!, "checkpoint-9"));
        Assert.Equal(Path.Combine(o.Output!, "checkpoint-4"), TrainerBase.FindLatestCheckpoint(o.Output!));
        Assert.Equal(Path.Combine(o.Output!, "checkpoint-4"), TrainerBase.ResolveCheckpoint("latest", o.Output!));
        Assert.Equal(Path.Combine(o.Output!, "checkpoint-4"), TrainerBase.ResolveCheckpoint("true", o.Output!));

        // Resume in place from "latest": the metrics keep steps 1-4 and get step 5 again, identical.
        var latest = SftTrainer.Create(o with { ResumeFromCheckpoint = "latest" });
        latest.Train();
        Assert.Equal(Path.Combine(o.Output!, "checkpoint-4"), latest.ResumedFrom);
        AssertSameSteps(original, Steps(o.Output!));

        // Resuming from step 2 re-saves checkpoint-4 (replacing the old folder atomically) with identical contents.
        var again = SftTrainer.Create(o with { ResumeFromCheckpoint = Path.Combine(o.Output!, "checkpoint-2") });
        again.Train();
        Assert.Equal(old4, File.ReadAllBytes(Path.Combine(o.Output!, "checkpoint-4", LoraAdapterFile.WeightsFileName)));
        Assert.False(Directory.Exists(Path.Combine(o.Output!, ".old-checkpoint-4")));
        AssertSameSteps(original, Steps(o.Output!));
    }

    [SharedFact(Model)]
    public void CheckpointsThatDoNotMatchTheRunAreNamed()
    {
        var data = WriteData();
        var o = Options(data, "base") with { MaxSteps = 2, SaveSteps = 1 };
        SftTrainer.Create(o).Train();
        var ck = Path.Combine(o.Output!, "checkpoint-1");
        Exception Resume(SftOptions options, string from) => Record.Exception(() => SftTrainer.Create(options with { Output = Path.Combine(_dir, "x"), ResumeFromCheckpoint = from }).Train())!;

        var rank = Assert.IsType<InvalidDataException>(Resume(o with { LoraR = 8 }, ck));
        Assert.StartsWith($"checkpoint {ck}: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' is [4, 64]", rank.Message);
        Assert.Contains("a different LoRA rank", rank.Message);

        var targets = Assert.IsType<InvalidDataException>(Resume(o with { TargetModules = ["q_proj", "k_proj"] }, ck));
        Assert.Contains("k_proj.lora_A.weight", targets.Message);
        Assert.Contains("target_modules", targets.Message);

        var saved = Assert.IsType<InvalidDataException>(Resume(o with { ModulesToSave = ["lm_head"] }, ck));
        Assert.Contains("has no modules_to_save tensor 'base_model.model.lm_head.weight'", saved.Message);

        var full = Assert.IsType<InvalidDataException>(Resume(o with { Full = true }, ck));
        Assert.Equal($"checkpoint {ck}: missing model.safetensors (not a complete checkpoint-N folder of `loft sft`?)", full.Message);

        var broken = Path.Combine(_dir, "broken");
        Directory.CreateDirectory(broken);
        foreach (var f in Directory.GetFiles(ck)) File.Copy(f, Path.Combine(broken, Path.GetFileName(f)));
        File.Delete(Path.Combine(broken, TrainerBase.OptimizerFileName));
        var missing = Assert.IsType<InvalidDataException>(Resume(o, broken));
        Assert.Equal($"checkpoint {broken}: missing optimizer.safetensors (not a complete checkpoint-N folder of `loft sft`?)", missing.Message);

        var none = Assert.IsType<DirectoryNotFoundException>(Resume(o, Path.Combine(_dir, "nope")));
        Assert.Equal($"resume_from_checkpoint: checkpoint folder not found: {Path.Combine(_dir, "nope")}", none.Message);
        var empty = Assert.IsType<DirectoryNotFoundException>(Resume(o with { Output = Path.Combine(_dir, "empty") }, "latest"));
        Assert.StartsWith("resume_from_checkpoint latest: no complete checkpoint-N folder in ", empty.Message);
    }

    [Fact]
    public void OptionsParseResumeAndModulesToSave()
    {
        var o = SftOptions.FromSettings([new("resume_from_checkpoint", "true"), new("modules_to_save", "lm_head, embed_tokens")], "t.yaml");
        Assert.Equal("true", o.ResumeFromCheckpoint);
        Assert.Equal(["lm_head", "embed_tokens"], o.ModulesToSave);
        Assert.Equal(["lm_head", "embed_tokens"], o.ToLoraOptions().ModulesToSave);
        Assert.Null(SftOptions.FromSettings([new("resume-from-checkpoint", "false")], "cli").ResumeFromCheckpoint);
        Assert.Equal(["lm_head"], SftOptions.FromSettings([new("additional_target", "lm_head")], "llamafactory.yaml").ModulesToSave);
        var e = Assert.Throws<ArgumentException>(() => (o with { Full = true }).Validate());
        Assert.Equal("modules_to_save = lm_head,embed_tokens: cannot be combined with full fine-tuning (every module is trained)", e.Message);
    }
}
