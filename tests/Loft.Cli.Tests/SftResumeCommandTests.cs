// `loft sft` with --lora-dropout, --modules-to-save and --resume-from-checkpoint on stories260K: resuming "latest" in
// place reproduces the run's losses, and `loft generate --adapter` equals `loft merge` + generate for a trained lm_head copy.
using System.Text.Json;

namespace Loft.Cli.Tests;

[Collection("Console")]
public sealed class SftResumeCommandTests : IDisposable
{
    const string Model = "fixtures/stories260K-hf";
    readonly string _dir = Directory.CreateTempSubdirectory("loft-sftresume-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string Data() => SftTestData.WriteNames(_dir);

    static List<string> Losses(string output) => File.ReadAllLines(Path.Combine(output, "metrics.jsonl"))
        .Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("loss", out _))
        .Select(e => $"{e.GetProperty("step").GetInt32()}:{e.GetProperty("loss").GetDouble():R}").ToList();

    static string Generate(params string[] extra)
    {
        var (code, stdout, stderr) = CliRunner.Run(["generate", "--print-ids", "--prompt-ids", "1", "--max-new-tokens", "12", "--ignore-eos", "--threads", "1", .. extra]);
        Assert.True(code == 0, stderr);
        return stdout;
    }

    [SharedFact(Model)]
    public void ResumeLatestReproducesTheRunAndTheAdapterGeneratesAsItsMerge()
    {
        var model = SharedData.Require(Model);
        var output = Path.Combine(_dir, "out");
        string[] common = ["sft", "--model", model, "--data", Data(), "--output", output, "--max-steps", "4", "--save-steps", "2",
            "--max-length", "256", "--batch-size", "4", "--eval-split", "0", "--threads", "1", "--learning-rate", "2e-2",
            "--lora-dropout", "0.1", "--modules-to-save", "lm_head"];
        var (code, stdout, stderr) = CliRunner.Run(common);
        Assert.True(code == 0, stderr);
        Assert.Contains("dropout 0.1, modules_to_save lm_head.weight", stderr);
        Assert.StartsWith("sft: 4 steps, last loss ", stdout);
        var first = Losses(output);
        Assert.Equal(4, first.Count);

        (code, stdout, stderr) = CliRunner.Run([.. common, "--resume-from-checkpoint", "latest"]);
        Assert.True(code == 0, stderr);
        Assert.Contains($"sft: resumed from {Path.Combine(output, "checkpoint-2")} at step 2", stderr);
        Assert.DoesNotContain("step 1/4", stderr);
        Assert.Contains("step 3/4", stderr);
        Assert.Equal(first, Losses(output));

        var merged = Path.Combine(_dir, "merged");
        (code, _, stderr) = CliRunner.Run("merge", "--model", model, "--adapter", output, "--out", merged);
        Assert.True(code == 0, stderr);
        Assert.Equal(Generate("--model", merged), Generate("--model", model, "--adapter", output));

        (code, _, stderr) = CliRunner.Run([.. common, "--resume-from-checkpoint", Path.Combine(_dir, "missing")]);
        Assert.Equal(1, code);
        Assert.Contains($"loft sft: error: resume_from_checkpoint: checkpoint folder not found: {Path.Combine(_dir, "missing")}", stderr);
    }
}
