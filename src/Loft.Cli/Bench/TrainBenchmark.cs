// `loft bench train-lora|train-full`: training tokens/s on random weights at a model shape (batch 8 × 256 by default;
// LoRA r=8 alpha 16 on q,k,v,o or every weight trainable; AdamW; no clipping, as the PyTorch peer, unless
// --max-grad-norm), median of --repeats steps after two warm-up steps, peak RSS, and the achieved FLOP rate (≈6·N FLOPs
// per token for full training, ≈4·N for LoRA: no weight gradients of the frozen base). Peer: PyTorch CPU, 15M LoRA 1505 tok/s, full 1436; 110M LoRA 358 (PEERS.md).
using System.Diagnostics;
using Loft.Autograd.Llama;
using Loft.Nn.Optim;
using Loft.Peft.Lora;
using Loft.Tensors.Threading;
using Loft.Training.Sft;

namespace Loft.Cli.Bench;

public abstract class TrainBenchmarkBase : IBenchmark
{
    protected abstract bool Lora { get; }
    const int WarmupSteps = 2;
    public string Kind => Lora ? "train-lora" : "train-full";
    public string Summary => (Lora ? "LoRA (r=8, q,k,v,o)" : "full") + " training tokens/s, peak RSS and FLOP rate on random weights [--batch 8 --seq 256 --max-grad-norm 0]";

    public BenchResult Run(BenchContext context)
    {
        int batch = context.Args.GetInt("batch", 8), seq = context.Args.GetInt("seq", 256);
        if (batch < 1 || seq < 2) throw new CliException($"bench {Kind}: --batch must be >= 1 and --seq >= 2");
        // The peer's step (torch_bench.py): forward, backward, AdamW, zero_grad; no clipping unless asked for.
        double maxGradNorm = context.Args.GetDouble("max-grad-norm", 0);
        if (!(maxGradNorm >= 0)) throw new CliException($"bench {Kind}: --max-grad-norm must be >= 0 (0: no clipping), got {maxGradNorm}");
        WorkerPool.SetThreadCount(context.Threads);
        var config = ModelBench.Shape(context.Shape, Kind);
        if (seq > config.MaxPositionEmbeddings) throw new CliException($"bench {Kind}: --seq {seq} exceeds the {context.Shape} context of {config.MaxPositionEmbeddings}");

        TrainableLlama model;
        long n;
        using (var ckpt = RandomCheckpoint.Create(config, seed: 1))
        {
            n = 0;
            foreach (var t in ckpt.Tensors) n += t.ElementCount;
            model = Lora
                ? TrainableLlama.CreateLora(ckpt, new LoraOptions { R = 8, LoraAlpha = 16, TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj"] }, seed: 1)
                : TrainableLlama.CreateFull(ckpt);
        }
        var optimizer = new AdamW(model.Parameters, new AdamWOptions { Lr = 1e-4, WeightDecay = 0 });
        var ids = new int[batch * seq];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)((i * 7919L + 13) % config.VocabSize);
        var mask = Enumerable.Repeat(1, ids.Length).ToArray();
        var data = new CausalLmBatch(batch, seq, ids, mask, ids);
        double loss = 0;

        using var self = Process.GetCurrentProcess();
        var cpu = new List<double>();
        var optimizerSeconds = new List<double>();   // clipping (if asked), AdamW step and zeroing the gradients
        double Step()
        {
            self.Refresh();
            var c0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            loss = model.ForwardBackward(data);
            long t1 = Stopwatch.GetTimestamp();
            if (maxGradNorm > 0) ClipGradNorm.Clip(model.Parameters, maxGradNorm);
            optimizer.Step();
            model.ZeroGrad();
            double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            optimizerSeconds.Add(Stopwatch.GetElapsedTime(t1).TotalSeconds);
            self.Refresh();
            cpu.Add((self.TotalProcessorTime - c0).TotalSeconds);
            return wall;
        }

        // Two warm-up steps, as the PyTorch peer (torch_bench.py, warmup=2): JIT tiers, arena growth, optimiser state.
        for (int w = 0; w < WarmupSteps; w++) Step();
        var times = new double[context.Repeats];
        for (int r = 0; r < times.Length; r++) times[r] = Step();
        double seconds = ModelBench.Median(times);
        double cpuSeconds = ModelBench.Median(cpu.Skip(WarmupSteps).ToArray());
        double optSeconds = ModelBench.Median(optimizerSeconds.Skip(WarmupSteps).ToArray());   // CPU time of all threads per step (spin-waits included)
        double tokens = (double)batch * seq;
        double tps = tokens / seconds;
        double flopsPerToken = (Lora ? 4.0 : 6.0) * n;
        double gflops = tps * flopsPerToken / 1e9;
        long rss = PeakRss();
        long trainable = model.Parameters.Sum(p => (long)p.Length);
        double? peer = (context.Shape, Lora) switch { ("15M", true) => 1505, ("15M", false) => 1436, ("110M", true) => 358, _ => null };

        string line = $"{Kind} {context.Shape}, {context.Threads} threads, batch {batch} x {seq} (median of {context.Repeats} steps after {WarmupSteps} warm-up): " +
            $"{tps:F0} tokens/s ({seconds:F2} s/step, {cpuSeconds:F2} CPU s/step, optimizer {1000 * optSeconds:F0} ms), {gflops:F1} GFLOP/s at {(Lora ? 4 : 6)}·N ({n / 1e6:F1}M parameters, {trainable:N0} trainable), " +
            $"peak RSS {rss / 1048576.0:F0} MiB, loss {loss:F3}" + (peer is { } p ? $"; PyTorch {p} tokens/s ({tps / p:F2}x)" : "");
        if (context.Json) Console.Error.WriteLine(line); else Console.WriteLine(line);
        return new BenchResult()
            .Set("tokens_per_second", Math.Round(tps, 1))
            .Set("seconds_per_step", Math.Round(seconds, 4))
            .Set("cpu_seconds_per_step", Math.Round(cpuSeconds, 4))
            .Set("optimizer_seconds_per_step", Math.Round(optSeconds, 4))
            .Set("batch", batch).Set("seq", seq).Set("max_grad_norm", maxGradNorm)
            .Set("parameters", n).Set("trainable_parameters", trainable)
            .Set("gflops", Math.Round(gflops, 2))
            .Set("peak_rss_bytes", rss)
            .Set("loss", Math.Round(loss, 4))
            .Set("pytorch_tokens_per_second", peer);
    }

    /// <summary>VmHWM from /proc/self/status (Linux), else Process.PeakWorkingSet64.</summary>
    static long PeakRss()
    {
        const string path = "/proc/self/status";
        if (File.Exists(path))
            foreach (var l in File.ReadLines(path))
                if (l.StartsWith("VmHWM:", StringComparison.Ordinal) && long.TryParse(l[6..].Trim().Split(' ')[0], out long kb))
                    return kb * 1024;
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64;
    }
}

public sealed class TrainLoraBenchmark : TrainBenchmarkBase
{
    protected override bool Lora => true;
}

public sealed class TrainFullBenchmark : TrainBenchmarkBase
{
    protected override bool Lora => false;
}
