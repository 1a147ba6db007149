// `loft bench train-lora|train-full` on a shrunken batch: the JSON line's fields are present and consistent.
using System.Text.Json;

namespace Loft.Cli.Tests;

public class TrainBenchmarkTests
{
    [Theory]
    [InlineData("train-lora", 4.0, 110_592)]
    [InlineData("train-full", 6.0, 15_191_712)]
    public void ReportsTokensPerSecondRssAndFlops(string kind, double flopsPerParam, long trainable)
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", kind, "--shape", "15M", "--threads", "1", "--repeats", "1", "--batch", "1", "--seq", "16", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var r = doc.RootElement;
        Assert.Equal(kind, r.GetProperty("benchmark").GetString());
        Assert.Equal(15_191_712, r.GetProperty("parameters").GetInt64());
        Assert.Equal(trainable, r.GetProperty("trainable_parameters").GetInt64());
        double tps = r.GetProperty("tokens_per_second").GetDouble();
        Assert.True(tps > 0);
        Assert.Equal(16 / r.GetProperty("seconds_per_step").GetDouble(), tps, 0.02 * tps + 1);
        Assert.Equal(tps * flopsPerParam * 15_191_712 / 1e9, r.GetProperty("gflops").GetDouble(), 0.02 * r.GetProperty("gflops").GetDouble() + 0.1);
        Assert.True(r.GetProperty("peak_rss_bytes").GetInt64() > 15_191_712L * 4);
        Assert.InRange(r.GetProperty("loss").GetDouble(), 9.0, 12.0);   // ≈ ln(32000) = 10.37 at random init
    }

    [Fact]
    public void MaxGradNormIsReportedAndANegativeOneRefused()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "train-full", "--shape", "15M", "--threads", "1", "--repeats", "1", "--batch", "1", "--seq", "8", "--max-grad-norm", "1", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        Assert.Equal(1.0, doc.RootElement.GetProperty("max_grad_norm").GetDouble());
        var (bad, _, error) = CliRunner.Run("bench", "train-full", "--shape", "15M", "--threads", "1", "--repeats", "1", "--batch", "1", "--seq", "8", "--max-grad-norm", "-1");
        Assert.NotEqual(0, bad);
        Assert.Contains("--max-grad-norm must be >= 0", error);
    }
}
