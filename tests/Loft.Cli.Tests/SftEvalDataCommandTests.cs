// `loft sft --eval-data FILE --eval-on-start` (and the YAML keys) end to end on stories260K: the eval file's count,
// the step-0 evaluation line and metrics record, the before/after summary, and the missing-file error.
using System.Text.Json;

namespace Loft.Cli.Tests;

public sealed class SftEvalDataCommandTests : IDisposable
{
    const string Model = "fixtures/stories260K-hf";
    readonly string _dir = Directory.CreateTempSubdirectory("loft-evaldcli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string Data(string name, int count) => SftTestData.WriteNames(_dir, name, count);

    [SharedFact(Model)]
    public void EvalDataAndEvalOnStartFromFlags()
    {
        var output = Path.Combine(_dir, "out");
        var eval = Data("eval.jsonl", 5);
        var (code, stdout, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", Data("d.jsonl", 12),
            "--eval-data", eval, "--eval-on-start", "--output", output, "--max-steps", "2", "--batch-size", "4", "--max-length", "256",
            "--learning-rate", "1e-2", "--threads", "1", "--save-steps", "0");
        Assert.True(code == 0, stderr);
        Assert.Contains($"sft: 12 training and 5 eval examples from {eval}; 2 steps", stderr);
        Assert.Contains("eval before training (step 0): loss ", stderr);
        Assert.Contains("eval at step 2: loss ", stderr);
        Assert.True(stderr.IndexOf("eval before training", StringComparison.Ordinal) < stderr.IndexOf("step 1/2", StringComparison.Ordinal), stderr);

        var evals = File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("eval_loss", out _)).ToList();
        Assert.Equal([0, 2], evals.Select(e => e.GetProperty("step").GetInt32()));
        string F(double v, string f) => v.ToString(f, System.Globalization.CultureInfo.InvariantCulture);
        double b = evals[0].GetProperty("eval_loss").GetDouble(), a = evals[1].GetProperty("eval_loss").GetDouble();
        Assert.StartsWith("sft: 2 steps, last loss ", stdout);
        Assert.Contains($", eval loss {F(b, "F4")} (perplexity {F(Math.Exp(b), "F3")}) before, {F(a, "F4")} (perplexity {F(Math.Exp(a), "F3")}) after; saved to {output}", stdout);
    }

    [SharedFact(Model)]
    public void EvalDataFromYamlAndItsErrors()
    {
        var yaml = Path.Combine(_dir, "sft.yaml");
        var eval = Data("eval.jsonl", 3);
        File.WriteAllText(yaml, $"eval_dataset: {eval}\neval_on_start: true\nmax_steps: 1\nper_device_train_batch_size: 4\ncutoff_len: 256\nsave_steps: 0\n");
        var output = Path.Combine(_dir, "y");
        var (code, stdout, stderr) = CliRunner.Run("sft", "--config", yaml, "--model", SharedData.Require(Model), "--data", Data("d.jsonl", 8),
            "--output", output, "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("8 training and 3 eval examples from", stderr);
        Assert.Contains(") before, ", stdout);

        var missing = Path.Combine(_dir, "missing.jsonl");
        (code, _, stderr) = CliRunner.Run("sft", "--config", yaml, "--model", SharedData.Require(Model), "--data", Data("d.jsonl", 8),
            "--eval-data", missing, "--output", Path.Combine(_dir, "z"));
        Assert.Equal(1, code);
        Assert.Contains($"loft sft: error: eval_data: eval dataset file not found: {missing}", stderr);

        var broken = Path.Combine(_dir, "broken.jsonl");
        File.WriteAllText(broken, "{\"instruction\": \"Say the name.\", \"output\": 7}\n");
        (code, _, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", Data("d.jsonl", 8),
            "--eval-data", broken, "--output", Path.Combine(_dir, "w"));
        Assert.Equal(1, code);
        Assert.Contains($"loft sft: error: {broken}:1: ", stderr);

        (code, _, stderr) = CliRunner.Run("sft", "--model", SharedData.Require(Model), "--data", Data("d.jsonl", 8), "--eval-split", "0",
            "--eval-on-start", "--output", Path.Combine(_dir, "v"));
        Assert.Equal(1, code);
        Assert.Contains("loft sft: error: eval_on_start: there is no held-out set to evaluate (eval_split is 0 and no eval_data is given)", stderr);
    }
}
