// Causal-LM cross-entropy fused with the LM head and chunked over tokens (as Liger-Kernel's fused linear
// cross-entropy): logits = h·Wᵀ are formed for at most `chunk` target rows at a time, so [T, V] logits and
// their gradient never exist at once. Targets equal to -100 (PyTorch's ignore_index) are skipped entirely.
using System.Buffers;
using System.Diagnostics;
using System.Numerics.Tensors;
using Loft.Tensors.Kernels;
using Loft.Tensors.Threading;

namespace Loft.Nn.Losses;

public static class CrossEntropy
{
    /// <summary>PyTorch's default ignore_index (transformers labels padding and prompts with it).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Rows per chunk chosen from the vocabulary size: as many as keep one chunk's logits within
    /// <see cref="LogitsBudget"/> floats (1024 rows at a 32000-token vocabulary, 261 at 128256), so the head's weight
    /// gradient and packed copies are swept few times per step (a 15M full step alternated with 512-row chunks in one
    /// process: 631 against 641 ms, faster in 17 of 24 pairs).</summary>
    public const int DefaultChunk = 0;

    /// <summary>Floats of logits one automatic chunk may hold (128 MiB).</summary>
    public const int LogitsBudget = 1 << 25;

    /// <summary>The rows per chunk <see cref="DefaultChunk"/> means for a vocabulary of <paramref name="V"/>.</summary>
    public static int ChunkFor(int V) => Math.Clamp(LogitsBudget / Math.Max(1, V), 16, 4096);

    /// <summary>The number of targets that count (not <see cref="IgnoreIndex"/>): the normaliser of one batch.</summary>
    public static int CountTargets(ReadOnlySpan<int> targets)
    {
        int n = 0;
        foreach (var t in targets) if (t != IgnoreIndex) n++;
        return n;
    }

    /// <summary>
    /// Loss and gradients of sum_t -log softmax(h_t·Wᵀ)[target_t] / normaliser over the targets that count.
    /// </summary>
    /// <param name="dh">(T, C) gradient accumulated with += (empty: not wanted).</param>
    /// <param name="dw">(V, C) gradient of the head accumulated with += (empty: frozen head).</param>
    /// <param name="h">(T, C) hidden states after the final norm.</param>
    /// <param name="w">(V, C) LM head, nn.Linear layout.</param>
    /// <param name="targets">(T) target ids in [0, V) or -100.</param>
    /// <param name="normaliser">Target tokens of the whole accumulated batch (gradient accumulation divides by
    /// the total over all micro-batches, not per micro-batch); must be > 0.</param>
    /// <returns>The summed loss of these rows divided by <paramref name="normaliser"/> (summed in double).</returns>
    public static double ForwardBackward(Span<float> dh, Span<float> dw, ReadOnlySpan<float> h, ReadOnlySpan<float> w,
        ReadOnlySpan<int> targets, int T, int C, int V, double normaliser, int chunk = DefaultChunk)
    {
        Check(h, w, targets, T, C, V, normaliser, chunk);
        if (!dh.IsEmpty && dh.Length != T * C)
            throw new ArgumentException($"dh has {dh.Length} elements, expected T*C = {T}*{C} = {T * C} (or empty)", nameof(dh));
        if (!dw.IsEmpty && dw.Length != V * C)
            throw new ArgumentException($"dw has {dw.Length} elements, expected V*C = {V}*{C} = {V * C} (or empty)", nameof(dw));
        return Run(dh, dw, h, w, targets, T, C, V, normaliser, chunk, backward: !dh.IsEmpty || !dw.IsEmpty);
    }

    /// <summary>The loss only (evaluation): sum of -log p(target) over the targets that count / normaliser.</summary>
    public static double Forward(ReadOnlySpan<float> h, ReadOnlySpan<float> w, ReadOnlySpan<int> targets,
        int T, int C, int V, double normaliser, int chunk = DefaultChunk)
    {
        Check(h, w, targets, T, C, V, normaliser, chunk);
        return Run(default, default, h, w, targets, T, C, V, normaliser, chunk, backward: false);
    }

    static void Check(ReadOnlySpan<float> h, ReadOnlySpan<float> w, ReadOnlySpan<int> targets, int T, int C, int V, double normaliser, int chunk)
    {
        if (T < 0) throw new ArgumentOutOfRangeException(nameof(T), T, "T must be >= 0");
        if (C < 1) throw new ArgumentOutOfRangeException(nameof(C), C, "C must be >= 1");
        if (V < 1) throw new ArgumentOutOfRangeException(nameof(V), V, "V must be >= 1");
        if (chunk < 0) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "chunk must be >= 1 (or 0 for automatic)");
        if (!(normaliser > 0) || double.IsInfinity(normaliser))
            throw new ArgumentOutOfRangeException(nameof(normaliser), normaliser, "normaliser (target tokens of the accumulated batch) must be finite and > 0");
        if (h.Length != (long)T * C) throw new ArgumentException($"h has {h.Length} elements, expected T*C = {T}*{C} = {(long)T * C}", nameof(h));
        if (w.Length != (long)V * C) throw new ArgumentException($"w has {w.Length} elements, expected V*C = {V}*{C} = {(long)V * C}", nameof(w));
        if (targets.Length != T) throw new ArgumentException($"targets has {targets.Length} elements, expected T = {T}", nameof(targets));
        for (int t = 0; t < T; t++)
        {
            int y = targets[t];
            if (y != IgnoreIndex && (uint)y >= (uint)V)
                throw new ArgumentException($"targets[{t}] = {y} is outside [0, {V}) and is not the ignore index {IgnoreIndex}", nameof(targets));
        }
    }

    static double Run(Span<float> dh, Span<float> dw, ReadOnlySpan<float> h, ReadOnlySpan<float> w,
        ReadOnlySpan<int> targets, int T, int C, int V, double normaliser, int chunk, bool backward)
    {
        int counted = CountTargets(targets);
        if (counted == 0) return 0.0;
        int rowsMax = Math.Min(chunk == DefaultChunk ? ChunkFor(V) : chunk, counted);
        // W is packed once per call for every chunk's logits (and input gradient) instead of once per chunk.
        PackedWeight? wt = null, wd = null;
        if (counted > PrepackMinRows)
        {
            wt = PackedHead(ref t_headForward, w, V, C, forInputGradient: false);
            if (backward && !dh.IsEmpty) wd = PackedHead(ref t_headInput, w, V, C, forInputGradient: true);
        }
        var pool = ArrayPool<float>.Shared;
        float[] hcBuf = pool.Rent(rowsMax * C);              // (rows, C) gathered hidden states
        float[] logitsBuf = pool.Rent(rowsMax * V);          // (rows, V) logits, then their gradient
        float[]? dhcBuf = backward && !dh.IsEmpty ? pool.Rent(rowsMax * C) : null; // (rows, C)
        int[] rowIndex = ArrayPool<int>.Shared.Rent(rowsMax);
        double[] rowLoss = ArrayPool<double>.Shared.Rent(rowsMax);
        float[] rowScale = ArrayPool<float>.Shared.Rent(rowsMax);   // normaliser⁻¹ / Σ exp of each row
        float[]? hsBuf = backward && !dw.IsEmpty ? pool.Rent(rowsMax * C) : null;   // (rows, C) hidden states × row scale
        float invNorm = (float)(1.0 / normaliser);
        double loss = 0;
        try
        {
            int t = 0;
            while (t < T)
            {
                // Gather the next `rowsMax` rows that count.
                int rows = 0;
                for (; t < T && rows < rowsMax; t++)
                {
                    if (targets[t] == IgnoreIndex) continue;
                    h.Slice(t * C, C).CopyTo(hcBuf.AsSpan(rows * C, C));
                    rowIndex[rows++] = t;
                }
                if (rows == 0) break;
                var hc = hcBuf.AsSpan(0, rows * C);
                var logits = logitsBuf.AsSpan(0, rows * V);
                if (wt != null) MatMul.Forward(logits, hc, wt, default, rows);
                else MatMul.Forward(logits, hc, w, default, rows, C, V);
                var rowOp = new SoftmaxRowsOp { Logits = logits, Targets = targets, Hc = hc, W = w, RowIndex = rowIndex, RowLoss = rowLoss, RowScale = rowScale, V = V, C = C, InvNorm = invNorm };
                if (Elementwise.Parallel((long)rows * V) && rows > 1) WorkerPool.Shared.For(rows, ref rowOp);
                else rowOp.Execute(0, rows);
                for (int r = 0; r < rows; r++) loss += rowLoss[r];
                if (!backward) continue;
                // The logits now hold E = exp(z - m) per row (m: the target's logit, or the max). d loss / d z =
                // s_r·E - onehot(y)/normaliser with the row scale s_r, so the products run on E and the scale and the one-hot term are applied to the small sides:
                // dh_r += s_r·(E·W)_r - W[y_r]/normaliser and dW += Eᵀ·(s·hc), dW[y_r] -= hc_r/normaliser (no pass
                // over the [rows, V] logits to normalise them).
                if (dhcBuf != null)
                {
                    var dhc = dhcBuf.AsSpan(0, rows * C);
                    dhc.Clear();
                    if (wd != null) MatMul.BackwardInput(dhc, logits, wd, rows);
                    else MatMul.BackwardInput(dhc, logits, w, rows, C, V);
                    for (int r = 0; r < rows; r++)
                    {
                        var dst = dh.Slice(rowIndex[r] * C, C);
                        TensorPrimitives.MultiplyAdd(dhc.Slice(r * C, C), rowScale[r], dst, dst);
                        TensorPrimitives.MultiplyAdd(w.Slice(targets[rowIndex[r]] * C, C), -invNorm, dst, dst);
                    }
                }
                if (hsBuf != null)
                {
                    var hs = hsBuf.AsSpan(0, rows * C);
                    for (int r = 0; r < rows; r++) TensorPrimitives.Multiply(hc.Slice(r * C, C), rowScale[r], hs.Slice(r * C, C));
                    MatMul.BackwardWeight(dw, logits, hs, rows, C, V);
                    for (int r = 0; r < rows; r++)
                    {
                        var dst = dw.Slice(targets[rowIndex[r]] * C, C);
                        TensorPrimitives.MultiplyAdd(hc.Slice(r * C, C), -invNorm, dst, dst);
                    }
                }
            }
        }
        finally
        {
            pool.Return(hcBuf);
            pool.Return(logitsBuf);
            if (dhcBuf != null) pool.Return(dhcBuf);
            ArrayPool<int>.Shared.Return(rowIndex);
            ArrayPool<double>.Shared.Return(rowLoss);
            ArrayPool<float>.Shared.Return(rowScale);
            if (hsBuf != null) pool.Return(hsBuf);
        }
        return loss / normaliser;
    }

    // Per row of a chunk (in parallel): -log softmax(z)[y] into RowLoss, z replaced by exp(z - m), and the row's gradient
    // scale normaliser⁻¹ / Σ exp(z - m) into RowScale. One pass over the row: m is the target's logit, a shift known
    // before the max (any shift gives the same softmax); the pass also finds the max, and a row whose max lies more than
    // ShiftSlack above the target's logit is rescaled to m = max (or, beyond float range, recomputed and redone), so the
    // products on E never see values above e^ShiftSlack.
    unsafe ref struct SoftmaxRowsOp : IParallelOp
    {
        public Span<float> Logits;
        public ReadOnlySpan<int> Targets;
        public ReadOnlySpan<float> Hc, W;
        public int[] RowIndex;
        public double[] RowLoss;
        public float[] RowScale;
        public int V, C;
        public float InvNorm;

        public readonly void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var z = Logits.Slice(r * V, V);
                int y = Targets[RowIndex[r]];
                float zy = z[y], shift = zy, max;
                double sum;
                fixed (float* zp = z)
                {
                    sum = Softmax.ExpShiftedSumMax(zp, V, shift, out max);
                    if (max - shift > ShiftSlack)
                    {
                        if (max - shift < ExpOverflow)
                        {
                            // E·exp(shift - max) = exp(z - max): the usual shift, one more pass over this row only.
                            float f = MathF.Exp(shift - max);
                            TensorPrimitives.Multiply(z, f, z);
                            sum *= f;
                        }
                        else
                        {
                            // Some exp(z - shift) overflowed: the logits again, then the two-pass softmax.
                            MatMul.Forward(z, Hc.Slice(r * C, C), W, default, 1, C, V);
                            max = TensorPrimitives.Max(z);
                            sum = Softmax.ExpShiftedSum(zp, V, max);
                        }
                        shift = max;
                    }
                }
                RowLoss[r] = Math.Log(sum) - (zy - shift);            // -log p(y) = log Σ exp(z - m) - (z_y - m)
                RowScale[r] = (float)(InvNorm / sum);
            }
        }
    }

    // A row whose max logit lies this far above the target's is rescaled to its max (e^30 ≈ 1e13 keeps the products on E
    // far from float's range); at ExpOverflow exp(z - z_y) may already be infinite.
    const float ShiftSlack = 30f, ExpOverflow = 88f;

    // Above this many target rows the head is packed once per call (a chunk of rows alone would not pay for it).
    const int PrepackMinRows = 256;

    // Per-thread packed copies of the head, reused across calls (same shape: repacked in place, no allocation).
    [ThreadStatic] static PackedWeight? t_headForward, t_headInput;

    static PackedWeight PackedHead(ref PackedWeight? cache, ReadOnlySpan<float> w, int V, int C, bool forInputGradient)
    {
        if (cache != null && cache.N == V && cache.K == C) cache.Repack(w);
        else
        {
            cache?.Dispose();
            cache = new PackedWeight(w, V, C, forInputGradient);
        }
        return cache;
    }
}
