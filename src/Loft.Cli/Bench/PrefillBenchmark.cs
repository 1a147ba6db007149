// `loft bench prefill`: tokens/s of one batched F32 Prefill of a 512-token prompt into an empty KV cache (random
// weights, median of --repeats) and the FLOP rate it reaches. Peer: llama.cpp F32 prefill, 6558 tokens/s at 15M and
// 864 at 110M on 2 threads (../shared/PEERS.md).
using System.Diagnostics;
using Loft.Models.Llama;
using Loft.Tensors.Threading;

namespace Loft.Cli.Bench;

public sealed class PrefillBenchmark : IBenchmark
{
    public string Kind => "prefill";
    public string Summary => "F32 prefill tokens/s of a 512-token prompt in one batched pass (random weights) and GFLOP/s [--tokens 512]";

    public BenchResult Run(BenchContext context)
    {
        int tokens = context.Args.GetInt("tokens", 512);
        if (tokens < 1) throw new CliException("bench prefill: --tokens must be at least 1");
        WorkerPool.SetThreadCount(context.Threads);
        var config = ModelBench.Shape(context.Shape, "prefill");
        if (tokens > config.MaxPositionEmbeddings)
            throw new CliException($"bench prefill: --tokens {tokens} exceeds the {context.Shape} context of {config.MaxPositionEmbeddings}");

        using var model = LlamaModel.CreateRandom(config, seed: 1);
        using var cache = model.CreateCache(1, tokens);
        var logits = new float[model.VocabSize];
        var prompt = new int[tokens];
        for (int i = 0; i < tokens; i++) prompt[i] = (int)((i * 7919L + 1) % model.VocabSize);

        using var self = Process.GetCurrentProcess();
        var cpu = new List<double>();
        double RunOnce()
        {
            cache.Truncate(0, 0);
            self.Refresh();
            var c0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            model.Prefill(cache, 0, prompt, logits);
            double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            self.Refresh();
            cpu.Add((self.TotalProcessorTime - c0).TotalSeconds);
            return wall;
        }

        RunOnce();   // warm-up: JIT tiers, page faults, scratch buffers
        var times = new double[context.Repeats];
        for (int r = 0; r < times.Length; r++) times[r] = RunOnce();
        double seconds = ModelBench.Median(times);
        double cpuSeconds = ModelBench.Median(cpu.Skip(1).ToArray());   // CPU time of all threads (spin-waits included)
        double tps = tokens / seconds;
        double flops = PrefillFlops(model, tokens);
        double gflops = flops / seconds / 1e9;
        double? peer = ModelBench.LlamaCppPrefill(context.Shape);

        string line = $"prefill {context.Shape} F32, {context.Threads} threads, {tokens}-token prompt (median of {context.Repeats}): " +
            $"{tps:F0} tokens/s ({1000 * seconds:F1} ms, {1000 * cpuSeconds:F1} CPU ms), {gflops:F1} GFLOP/s ({flops / 1e9:F2} GFLOP: 2·matmul params·tokens + attention + classifier of the last token)" +
            (peer is { } p ? $"; llama.cpp F32 {p} tokens/s ({tps / p:F2}x)" : "");
        if (context.Json) Console.Error.WriteLine(line); else Console.WriteLine(line);

        return new BenchResult()
            .Set("tokens_per_second", Math.Round(tps, 1))
            .Set("tokens", tokens)
            .Set("milliseconds", Math.Round(1000 * seconds, 2))
            .Set("cpu_milliseconds", Math.Round(1000 * cpuSeconds, 2))
            .Set("gflops_per_second", Math.Round(gflops, 1))
            .Set("flops", flops)
            .Set("peer_llamacpp_tokens_per_second", peer);
    }

    /// <summary>
    /// The multiply-adds one Prefill of T tokens performs, ×2: every layer projection for every token, causal attention
    /// (q·k and p·v over i+1 keys for token i: 2·2·nh·hs·T(T+1)/2 per layer) and the classifier for the last token only.
    /// </summary>
    public static double PrefillFlops(LlamaModel model, int T)
    {
        double layerParams = 0;
        foreach (var layer in model.Layers)
            foreach (var p in layer.Projections) layerParams += (double)p.InFeatures * p.OutFeatures;
        var c = model.Config;
        double attention = c.NumHiddenLayers * 2.0 * c.NumAttentionHeads * c.HeadSize * (double)T * (T + 1);
        double classifier = 2.0 * model.LmHead.InFeatures * model.LmHead.OutFeatures;
        return 2.0 * layerParams * T + attention + classifier;
    }
}
