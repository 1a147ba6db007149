// `loft quickstart --fast`: the whole demo at a tenth of the steps (pretrain, LoRA, held-out exact match, loss.png),
// and its option errors.
namespace Loft.Cli.Tests;

[Collection("Console")]
public class QuickstartCommandTests
{
    [Fact]
    public void FastRunPrintsAccuracyAndWritesTheChart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "loft-quickstart-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, text, err) = CliRunner.Run("quickstart", "--fast", "--out", dir, "--eval-count", "35");
            Assert.True(code == 0, text + err);
            var line = text.Split('\n').Single(l => l.StartsWith("held-out exact match: before ", StringComparison.Ordinal));
            var m = System.Text.RegularExpressions.Regex.Match(line, @"before (\d+)/35 \(\d+%\), after (\d+)/35 \(\d+%\)");
            Assert.True(m.Success, line);
            Assert.True(int.Parse(m.Groups[2].Value) >= int.Parse(m.Groups[1].Value), line);
            Assert.True(File.Exists(Path.Combine(dir, "loss.png")));
            var fast = new Loft.Training.Quickstart.QuickstartOptions().ScaleSteps(Commands.QuickstartCommand.FastScale);
            Assert.Equal(fast.PretrainSteps, File.ReadAllLines(Path.Combine(dir, "pretrain", "metrics.jsonl")).Length);
            Assert.Equal(fast.LoraSteps, File.ReadAllLines(Path.Combine(dir, "lora", "metrics.jsonl")).Length);
            Assert.Contains("LoRA-tuned, instructions", text);
            Assert.True(File.Exists(Path.Combine(dir, "results.json")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("quickstart: give --fast or --steps-scale, not both", "--fast", "--steps-scale", "2")]
    [InlineData("quickstart: steps scale = -1: must be a positive number", "--steps-scale", "-1")]
    [InlineData("quickstart: eval_count = 0: must be >= 1", "--eval-count", "0")]
    public void BadOptionsAreReported(string message, params string[] args)
    {
        var (code, _, err) = CliRunner.Run(["quickstart", .. args]);
        Assert.NotEqual(0, code);
        Assert.Contains(message, err);
    }
}
