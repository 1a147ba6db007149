// Splitting of elementwise and row-wise kernels over the shared worker pool: large inputs in fixed blocks (so
// results do not depend on the thread count), small ones inline.
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class Elementwise
{
    /// <summary>Elements per parallel block.</summary>
    public const int Block = 16384;

    /// <summary>Whether <paramref name="length"/> elements are worth splitting over the shared pool.</summary>
    public static bool Parallel(long length) => length >= 2 * Block && WorkerPool.Shared.ThreadCount > 1;

    /// <summary>Blocks covering <paramref name="length"/> elements.</summary>
    public static int Blocks(int length) => (length + Block - 1) / Block;

    /// <summary>Offset and length of blocks [start, end) of a <paramref name="length"/>-element input.</summary>
    public static (int Offset, int Length) Range(int start, int end, int length)
    {
        int a = start * Block, b = (int)Math.Min(length, (long)end * Block);
        return (a, b - a);
    }

    /// <summary>Rows per parallel block for rows of <paramref name="dim"/> elements (about one element block).</summary>
    public static int RowsPerBlock(int dim) => Math.Max(1, Block / Math.Max(1, dim));

    /// <summary>Zeroes <paramref name="x"/>, in parallel blocks when large.</summary>
    public static void Clear(Span<float> x)
    {
        if (!Parallel(x.Length)) { x.Clear(); return; }
        var op = new ClearOp { X = x };
        WorkerPool.Shared.For(Blocks(x.Length), ref op);
    }

    ref struct ClearOp : IParallelOp
    {
        public Span<float> X;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Range(start, end, X.Length);
            X.Slice(a, n).Clear();
        }
    }
}
