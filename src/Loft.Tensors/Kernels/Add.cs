// Elementwise addition for residual connections.
using System.Diagnostics;
using System.Numerics.Tensors;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class Add
{
    // y = a + b (same length)
    public static void Forward(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Debug.Assert(a.Length == b.Length && y.Length >= a.Length);
        if (Elementwise.Parallel(a.Length))
        {
            var op = new Op { Y = y, A = a, B = b };
            WorkerPool.Shared.For(Elementwise.Blocks(a.Length), ref op);
        }
        else TensorPrimitives.Add(a, b, y.Slice(0, a.Length));
    }

    // y += x
    public static void InPlace(Span<float> y, ReadOnlySpan<float> x)
    {
        Debug.Assert(y.Length >= x.Length);
        Forward(y, y.Slice(0, x.Length), x);
    }

    ref struct Op : IParallelOp
    {
        public Span<float> Y;
        public ReadOnlySpan<float> A, B;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Elementwise.Range(start, end, A.Length);
            TensorPrimitives.Add(A.Slice(a, n), B.Slice(a, n), Y.Slice(a, n));
        }
    }
}
