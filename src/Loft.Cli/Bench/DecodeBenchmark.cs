// `loft bench decode`: tokens/s of batch-1 F32 decoding with random weights (128 tokens one at a time from an empty
// KV cache, median of --repeats), against the memory-bandwidth floor (weight bytes per token ÷ measured streaming read).
// Peer: llama.cpp F32 decode, 526 tokens/s at 15M and 107 at 110M on 2 threads (../shared/PEERS.md).
using System.Diagnostics;
using System.Numerics.Tensors;
using Loft.Tensors.Memory;
using Loft.Models.Llama;
using Loft.Tensors.Threading;

namespace Loft.Cli.Bench;

public sealed class DecodeBenchmark : IBenchmark
{
    public string Kind => "decode";
    public string Summary => "batch-1 F32 decode tokens/s from an empty cache (random weights) and the memory-bandwidth floor [--tokens 128]";

    public BenchResult Run(BenchContext context)
    {
        int tokens = context.Args.GetInt("tokens", 128);
        if (tokens < 1) throw new CliException("bench decode: --tokens must be at least 1");
        WorkerPool.SetThreadCount(context.Threads);
        var config = ModelBench.Shape(context.Shape, "decode");
        if (tokens > config.MaxPositionEmbeddings)
            throw new CliException($"bench decode: --tokens {tokens} exceeds the {context.Shape} context of {config.MaxPositionEmbeddings}");

        using var model = LlamaModel.CreateRandom(config, seed: 1);
        using var cache = model.CreateCache(1, tokens);
        var logits = new float[model.VocabSize];
        int[] slot = [0], token = [0];
        int vocab = model.VocabSize;

        double RunOnce()
        {
            cache.Truncate(0, 0);
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < tokens; i++)
            {
                token[0] = (int)((i * 7919L + 1) % vocab);
                model.DecodeStep(cache, slot, token, logits);
            }
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        RunOnce();   // warm-up: JIT tiers, page faults of the weights and the cache
        var times = new double[context.Repeats];
        for (int r = 0; r < times.Length; r++) times[r] = RunOnce();
        double seconds = ModelBench.Median(times);
        double tps = tokens / seconds;

        double gbps = StreamingRead.MeasureGBps(context.Repeats);
        double bytesPerToken = model.WeightBytesPerToken;
        double floor = gbps * 1e9 / bytesPerToken;
        double? peer = ModelBench.LlamaCppDecode(context.Shape);

        string line = $"decode {context.Shape} F32, {context.Threads} threads, {tokens} tokens from an empty cache (median of {context.Repeats}): " +
            $"{tps:F1} tokens/s ({1000 * seconds / tokens:F2} ms/token); floor {floor:F1} tokens/s " +
            $"({bytesPerToken / 1e6:F1} MB of weights per token at {gbps:F1} GB/s streaming read), {100 * tps / floor:F0}% of it" +
            (peer is { } p ? $"; llama.cpp F32 {p} tokens/s ({tps / p:F2}x)" : "");
        if (context.Json) Console.Error.WriteLine(line); else Console.WriteLine(line);

        return new BenchResult()
            .Set("tokens_per_second", Math.Round(tps, 1))
            .Set("ms_per_token", Math.Round(1000 * seconds / tokens, 3))
            .Set("tokens", tokens)
            .Set("floor_tokens_per_second", Math.Round(floor, 1))
            .Set("weight_bytes_per_token", model.WeightBytesPerToken)
            .Set("memory_gb_per_second", Math.Round(gbps, 1))
            .Set("peer_llamacpp_tokens_per_second", peer);
    }
}

/// <summary>Shared pieces of the model benchmarks: shapes, medians, peer figures.</summary>
internal static class ModelBench
{
    public static Loft.Formats.HuggingFace.ModelConfig Shape(string shape, string kind)
    {
        if (!LlamaShapes.Names.Contains(shape))
            throw new CliException($"bench {kind}: unknown --shape '{shape}' (expected {string.Join("|", LlamaShapes.Names)})");
        return LlamaShapes.Get(shape);
    }

    public static double Median(double[] values)
    {
        var s = (double[])values.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    // ../shared/PEERS.md, llama.cpp (Feb 2025) F32, 2 threads.
    public static double? LlamaCppDecode(string shape) => shape switch { "15M" => 526, "110M" => 107, _ => null };
    public static double? LlamaCppPrefill(string shape) => shape switch { "15M" => 6558, "110M" => 864, _ => null };
}

/// <summary>Memory bandwidth as a parallel streaming read (sum) of a buffer far larger than the caches.</summary>
internal static unsafe class StreamingRead
{
    const int Floats = 64 << 20;   // 256 MiB
    const int Chunk = 1 << 16;     // floats per work item (256 KiB)

    struct SumOp : IParallelOp
    {
        public float* Data;
        public float Sink;

        public void Execute(int start, int end)
        {
            float s = 0;
            for (int c = start; c < end; c++)
                s += TensorPrimitives.Sum(new ReadOnlySpan<float>(Data + (long)c * Chunk, Chunk));
            Sink += s;   // keeps the reads alive; the race on Sink is harmless
        }
    }

    public static double MeasureGBps(int repeats)
    {
        var p = LargePageAllocator.AllocateFloats(Floats, zero: false);   // the allocator the weights use
        try
        {
            new Span<float>(p, Floats).Fill(1f);
            var op = new SumOp { Data = p };
            var pool = WorkerPool.Shared;
            // Warm-up until the JIT has compiled the sum at its optimised tier (at least 3 passes and 0.5 s): a single
            // pass measured the first-tier code whenever nothing before had used TensorPrimitives.Sum (13.8 GB/s).
            var warm = Stopwatch.StartNew();
            for (int w = 0; w < 3 || warm.Elapsed.TotalSeconds < 0.5; w++) pool.For(Floats / Chunk, ref op);
            var times = new double[Math.Max(repeats, 3)];
            for (int r = 0; r < times.Length; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pool.For(Floats / Chunk, ref op);
                times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }
            return (double)Floats * sizeof(float) / ModelBench.Median(times) / 1e9;
        }
        finally
        {
            LargePageAllocator.Free(p);
        }
    }
}
