// `loft bench matmul`: GFLOP/s of MatMul.Forward (y = x·Wᵀ) at 1024³ and 4096³, and of the decode GEMV
// (m = 1, 4096×4096) as GB/s of weight reads; median of --repeats timed runs after a warm-up.
// Peers: OpenBLAS sgemm 396 GFLOP/s at 4096³ on 2 threads (../shared/PEERS.md).
using System.Diagnostics;
using Loft.Tensors.Kernels;
using Loft.Tensors.Memory;
using Loft.Tensors.Threading;

namespace Loft.Cli.Bench;

public sealed unsafe class MatMulBenchmark : IBenchmark
{
    public string Kind => "matmul";
    public string Summary => "GEMM GFLOP/s at 1024³ and 4096³ (median of --repeats), plus decode GEMV GB/s [--sizes 1024,4096] [--gemv-dim 4096]";

    public BenchResult Run(BenchContext context)
    {
        var sizesArg = context.Args.Get("sizes") ?? "1024,4096";
        var sizes = sizesArg.Split(',').Select(s => int.TryParse(s, out int v) && v > 0 ? v
            : throw new CliException($"bench matmul: --sizes expects comma-separated positive integers, got '{sizesArg}'")).ToArray();
        int gemvDim = context.Args.GetInt("gemv-dim", 4096);
        if (gemvDim < 1) throw new CliException($"bench matmul: --gemv-dim must be positive, got {gemvDim}");
        WorkerPool.SetThreadCount(context.Threads);
        var result = new BenchResult();
        double? last = null;
        foreach (int size in sizes)
        {
            double gflops = MeasureGemm(size, context.Repeats);
            Console.Error.WriteLine($"matmul {size}³: {gflops:F1} GFLOP/s (median of {context.Repeats}, {context.Threads} threads)");
            if (!context.Json) Console.WriteLine($"matmul {size}^3: {gflops:F1} GFLOP/s");
            result.Set($"gflops_{size}", Math.Round(gflops, 1));
            last = gflops;
            if (size == 4096) result.Set("gflops", Math.Round(gflops, 1));
        }
        if (!result.Fields.ContainsKey("gflops")) result.Set("gflops", Math.Round(last ?? 0, 1));
        double gemvGbs = MeasureGemv(gemvDim, gemvDim, Math.Max(context.Repeats, 5));
        Console.Error.WriteLine($"gemv 1×{gemvDim}·{gemvDim}×{gemvDim}: {gemvGbs:F1} GB/s of weight reads");
        if (!context.Json) Console.WriteLine($"gemv m=1 {gemvDim}x{gemvDim}: {gemvGbs:F1} GB/s");
        result.Set("gemv_gb_per_second", Math.Round(gemvGbs, 1));
        return result;
    }

    static double MeasureGemm(int size, int repeats)
    {
        int m = size, k = size, n = size;
        var x = RandomArray(m * k, 1); var w = RandomArray(n * k, 2); var y = new float[m * n];
        // Warm-up: page faults, packing buffers, and the JIT's tiers (the micro-kernel reaches its optimised tier only
        // after some calls): at least 3 calls and 0.5 s.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < 0.5; i++) MatMul.Forward(y, x, w, [], m, k, n);
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            MatMul.Forward(y, x, w, [], m, k, n);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return 2.0 * m * k * n / Median(times) / 1e9;
    }

    static double MeasureGemv(int k, int n, int repeats)
    {
        // Several weight matrices in turn (≥ 256 MiB in all) so the reads come from memory, not the cache.
        int copies = 4;
        // In LargePageAllocator memory, as model weights are (huge pages), not on the GC heap.
        var ws = new float*[copies];
        try
        {
            for (int i = 0; i < copies; i++)
            {
                ws[i] = LargePageAllocator.AllocateFloats((long)n * k, zero: false);
                RandomArray(n * k, 10 + i).CopyTo(new Span<float>(ws[i], n * k));
            }
            var x = RandomArray(k, 3); var y = new float[n];
            foreach (var w in ws) MatMul.Forward(y, x, new ReadOnlySpan<float>(w, n * k), [], 1, k, n);
            var times = new double[repeats];
            for (int r = 0; r < repeats; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                foreach (var w in ws) MatMul.Forward(y, x, new ReadOnlySpan<float>(w, n * k), [], 1, k, n);
                times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds / copies;
            }
            return (double)n * k * sizeof(float) / Median(times) / 1e9;
        }
        finally
        {
            foreach (var w in ws) LargePageAllocator.Free(w);
        }
    }

    internal static float[] RandomArray(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    internal static double Median(double[] values)
    {
        var s = (double[])values.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
