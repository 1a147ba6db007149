// `loft sft` and `loft pretrain` end to end on stories260K: YAML config with flag overrides, plain progress lines
// when stderr is redirected, the output folder, and the error paths' messages and exit codes.
using System.Text.Json;

namespace Loft.Cli.Tests;

public sealed class SftCommandTests : IDisposable
{
    const string Model = "fixtures/stories260K-hf";
    readonly string _dir = Directory.CreateTempSubdirectory("loft-sftcli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string Data() => SftTestData.WriteNames(_dir);

    [SharedFact(Model)]
    public void SftFromYamlWithFlagOverrides()
    {
        var yaml = Path.Combine(_dir, "sft.yaml");
        File.WriteAllText(yaml, "learning_rate: 1.0e-2\nmax_steps: 10\nper_device_train_batch_size: 4\ntarget_modules: [q_proj, v_proj]\neval_split: 0.1\nsave_steps: 2\n");
        var output = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = CliRunner.Run("sft", "--config", yaml, "--model", SharedData.Require(Model), "--data", Data(),
            "--output", output, "--max-steps", "3", "--max-length", "256", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("step 1/3", stderr);
        Assert.Contains("step 3/3", stderr);
        Assert.Contains("eval at step 3: loss", stderr);
        Assert.StartsWith("sft: 3 steps, last loss ", stdout);
        Assert.True(File.Exists(Path.Combine(output, "adapter_model.safetensors")));
        Assert.True(Directory.Exists(Path.Combine(output, "checkpoint-2")));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Count(l => l.Contains("\"loss\"")));
    }

    [SharedFact(Model)]
    public void SftErrorsAreReported()
    {
        var (code, _, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", Data(), "--output", Path.Combine(_dir, "x"), "--lora-r", "eight");
        Assert.Equal(1, code);
        Assert.Contains("loft sft: error: sft (command line): lora-r = 'eight' is not an integer", stderr);
        var empty = Path.Combine(_dir, "empty.jsonl");
        File.WriteAllText(empty, "");
        (code, _, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", empty, "--output", Path.Combine(_dir, "y"));
        Assert.Equal(1, code);
        Assert.Contains(empty, stderr);
        (code, _, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", Data());
        Assert.Equal(2, code);
        Assert.Contains("missing required option --output", stderr);
    }

    [SharedFact(Model)]
    public void PretrainFromConfigWritesAnHfFolder()
    {
        var text = Path.Combine(_dir, "t.txt");
        File.WriteAllText(text, string.Join("\n\n", Enumerable.Repeat("Once upon a time there was a little girl named Lily.", 20)));
        var output = Path.Combine(_dir, "pt");
        var model = SharedData.Require(Model);
        var (code, stdout, stderr) = CliRunner.Run("pretrain", "--config-json", Path.Combine(model, "config.json"), "--tokenizer",
            Path.Combine(model, "tokenizer.model"), "--data", text, "--output", output, "--max-length", "32", "--max-steps", "2", "--batch-size", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("(random init)", stderr);
        Assert.StartsWith("pretrain: 2 steps", stdout);
        Assert.True(File.Exists(Path.Combine(output, "config.json")));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
    }
}
