// A linear layer's weight W (n, k) pre-packed once into the GEMM's KC×NR panels, so repeated products with many
// rows (prefill, training steps, the chunks of the fused LM-head loss) skip the per-call pack of W: panels of Wᵀ
// for y = x·Wᵀ (MatMul.Forward), or of W for dx = dy·W (MatMul.BackwardInput) when packed for the input gradient.
using Loft.Tensors.Memory;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public sealed unsafe class PackedWeight : IDisposable
{
    float* _data;

    /// <summary>Output features (rows of W).</summary>
    public int N { get; }
    /// <summary>Input features (columns of W).</summary>
    public int K { get; }
    /// <summary>True: packed as B = W for dx = dy·W; false: as B = Wᵀ for y = x·Wᵀ.</summary>
    public bool ForInputGradient { get; }
    /// <summary>The GEMM's inner and output dimensions (k, n for y = x·Wᵀ; n, k for dx = dy·W).</summary>
    internal int GemmK => ForInputGradient ? N : K;
    internal int GemmN => ForInputGradient ? K : N;
    /// <summary>The GEMM's output dimension rounded up to the micro-kernel width.</summary>
    internal int PaddedN { get; }

    /// <summary>Packs <paramref name="w"/>, row-major (n, k) as HF nn.Linear.weight, for y = x·Wᵀ, or for dx = dy·W
    /// when <paramref name="forInputGradient"/>.</summary>
    public PackedWeight(ReadOnlySpan<float> w, int n, int k, bool forInputGradient = false)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "packed weight needs at least one output row");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "packed weight needs at least one input column");
        N = n; K = k; ForInputGradient = forInputGradient;
        PaddedN = (GemmN + MatMul.NR - 1) / MatMul.NR * MatMul.NR;
        _data = LargePageAllocator.AllocateFloats((long)PaddedN * GemmK, zero: false);
        Repack(w);
    }

    /// <summary>Packs new values of the same shape (e.g. after an optimizer step).</summary>
    public void Repack(ReadOnlySpan<float> w)
    {
        ObjectDisposedException.ThrowIf(_data == null, this);
        if (w.Length != (long)N * K)
            throw new ArgumentException($"weight has {w.Length} values, expected {N}×{K} = {(long)N * K}", nameof(w));
        fixed (float* wp = w)
            MatMul.PackAll(WorkerPool.Shared, _data, ForInputGradient ? new MatMul.Operand(wp, K, 1) : new MatMul.Operand(wp, 1, K), GemmK, GemmN);
    }

    internal float* Data
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data == null, this);
            return _data;
        }
    }

    public void Dispose()
    {
        if (_data != null) LargePageAllocator.Free(_data);
        _data = null;
        GC.SuppressFinalize(this);
    }

    ~PackedWeight()
    {
        if (_data != null) LargePageAllocator.Free(_data);
    }
}

public static unsafe partial class MatMul
{
    // y (m, n) = x (m, k) · Wᵀ + bias (n, or empty) with W pre-packed; n, k from the packed weight. Overwrites y.
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, PackedWeight w, ReadOnlySpan<float> bias, int m)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (w.ForInputGradient) throw new ArgumentException("this PackedWeight is packed for the input gradient (dx = dy·W), not for y = x·Wᵀ", nameof(w));
        int n = w.N, k = w.K;
        System.Diagnostics.Debug.Assert(y.Length >= m * n && x.Length >= m * k && (bias.IsEmpty || bias.Length >= n));
        if (m <= 0) return;
        float* data = w.Data;
        fixed (float* yp = y, xp = x, bp = bias)
            Gemm(WorkerPool.Shared, yp, n, new Operand(xp, k, 1), new Operand(null, 1, k), bias.IsEmpty ? null : bp, m, k, n,
                accumulate: false, prepacked: data, prepackedN: w.PaddedN);
        GC.KeepAlive(w);
    }

    // dx (m, k) += dy (m, n) · W with W (n, k) packed for the input gradient.
    public static void BackwardInput(Span<float> dx, ReadOnlySpan<float> dy, PackedWeight w, int m)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (!w.ForInputGradient) throw new ArgumentException("this PackedWeight is packed for y = x·Wᵀ, not for the input gradient (dx = dy·W)", nameof(w));
        int n = w.N, k = w.K;
        System.Diagnostics.Debug.Assert(dx.Length >= m * k && dy.Length >= m * n);
        if (m <= 0) return;
        float* data = w.Data;
        fixed (float* dxp = dx, dyp = dy)
            Gemm(WorkerPool.Shared, dxp, k, new Operand(dyp, n, 1), new Operand(null, k, 1), null, m, n, k,
                accumulate: true, prepacked: data, prepackedN: w.PaddedN);
        GC.KeepAlive(w);
    }
}
