// SwiGLU gating of the LLaMA MLP (Shazeer 2020): y = silu(gate) * up, silu(g) = g / (1 + e^-g).
// One fused pass with Vector512/256/128 exp (elementwise, so y may alias gate or up).
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class SwiGlu
{
    // y, gate, up: same length. Large inputs run in parallel blocks on the shared pool.
    public static void Forward(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        Debug.Assert(gate.Length == up.Length && y.Length >= gate.Length);
        if (Elementwise.Parallel(gate.Length))
        {
            var op = new ForwardOp { Y = y, Gate = gate, Up = up };
            WorkerPool.Shared.For(Elementwise.Blocks(gate.Length), ref op);
            return;
        }
        ForwardSerial(y, gate, up);
    }

    ref struct ForwardOp : IParallelOp
    {
        public Span<float> Y;
        public ReadOnlySpan<float> Gate, Up;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Elementwise.Range(start, end, Gate.Length);
            ForwardSerial(Y.Slice(a, n), Gate.Slice(a, n), Up.Slice(a, n));
        }
    }

    ref struct BackwardOp : IParallelOp
    {
        public Span<float> DGate, DUp;
        public ReadOnlySpan<float> Dy, Gate, Up;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Elementwise.Range(start, end, Gate.Length);
            BackwardSerial(DGate.Slice(a, n), DUp.Slice(a, n), Dy.Slice(a, n), Gate.Slice(a, n), Up.Slice(a, n));
        }
    }

    static void ForwardSerial(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        int n = gate.Length, i = 0;
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(gate);
        ref float ur = ref MemoryMarshal.GetReference(up);
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
            {
                var g = Vector512.LoadUnsafe(ref gr, (nuint)i);
                (g / (Vector512<float>.One + Vector512.Exp(-g)) * Vector512.LoadUnsafe(ref ur, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                (g / (Vector256<float>.One + Vector256.Exp(-g)) * Vector256.LoadUnsafe(ref ur, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            }
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
            {
                var g = Vector128.LoadUnsafe(ref gr, (nuint)i);
                (g / (Vector128<float>.One + Vector128.Exp(-g)) * Vector128.LoadUnsafe(ref ur, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            }
        for (; i < n; i++)
            Unsafe.Add(ref yr, i) = Silu(Unsafe.Add(ref gr, i)) * Unsafe.Add(ref ur, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Silu(float g) => g / (1f + MathF.Exp(-g));

    // s = sigmoid(gate): dgate += dy·up·s·(1 + gate·(1 - s));  dup += dy·gate·s. All same length.
    public static void Backward(Span<float> dgate, Span<float> dup, ReadOnlySpan<float> dy, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        Debug.Assert(gate.Length == up.Length && dy.Length >= gate.Length && dgate.Length >= gate.Length && dup.Length >= gate.Length);
        if (Elementwise.Parallel(gate.Length))
        {
            var op = new BackwardOp { DGate = dgate, DUp = dup, Dy = dy, Gate = gate, Up = up };
            WorkerPool.Shared.For(Elementwise.Blocks(gate.Length), ref op);
            return;
        }
        BackwardSerial(dgate, dup, dy, gate, up);
    }

    static void BackwardSerial(Span<float> dgate, Span<float> dup, ReadOnlySpan<float> dy, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        int n = gate.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
            {
                var g = Vector512.Create(gate.Slice(i, 16)); var u = Vector512.Create(up.Slice(i, 16)); var d = Vector512.Create(dy.Slice(i, 16));
                var s = Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-g));
                (Vector512.Create((ReadOnlySpan<float>)dgate.Slice(i, 16)) + d * u * s * (Vector512<float>.One + g * (Vector512<float>.One - s))).CopyTo(dgate.Slice(i, 16));
                (Vector512.Create((ReadOnlySpan<float>)dup.Slice(i, 16)) + d * g * s).CopyTo(dup.Slice(i, 16));
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
            {
                var g = Vector256.Create(gate.Slice(i, 8)); var u = Vector256.Create(up.Slice(i, 8)); var d = Vector256.Create(dy.Slice(i, 8));
                var s = Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-g));
                (Vector256.Create((ReadOnlySpan<float>)dgate.Slice(i, 8)) + d * u * s * (Vector256<float>.One + g * (Vector256<float>.One - s))).CopyTo(dgate.Slice(i, 8));
                (Vector256.Create((ReadOnlySpan<float>)dup.Slice(i, 8)) + d * g * s).CopyTo(dup.Slice(i, 8));
            }
        for (; i < n; i++)
        {
            float g = gate[i], s = 1f / (1f + MathF.Exp(-g));
            dgate[i] += dy[i] * up[i] * s * (1f + g * (1f - s));
            dup[i] += dy[i] * g * s;
        }
    }
}
