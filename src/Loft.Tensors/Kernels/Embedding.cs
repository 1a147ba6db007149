// Token embedding lookup (torch.nn.Embedding): y[t] = table[ids[t]], and its backward, a scatter-add into the
// table's gradient (repeated ids accumulate, in token order).
using System.Diagnostics;
using System.Numerics.Tensors;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class Embedding
{
    // y (T, dim); table (V, dim); ids (T), each in [0, V).
    public static void Forward(Span<float> y, ReadOnlySpan<float> table, ReadOnlySpan<int> ids, int dim)
    {
        Debug.Assert(y.Length >= ids.Length * dim);
        for (int t = 0; t < ids.Length; t++)
        {
            Debug.Assert(ids[t] >= 0 && (long)(ids[t] + 1) * dim <= table.Length);
            table.Slice(ids[t] * dim, dim).CopyTo(y.Slice(t * dim, dim));
        }
    }

    // dtable (V, dim) += scatter of dy (T, dim) by ids: repeated ids accumulate. Large inputs are split over the pool
    // by column blocks (every thread walks all tokens in order over its own columns: no two threads share a row
    // element, and each element sums in token order whatever the thread count).
    public static void Backward(Span<float> dtable, ReadOnlySpan<float> dy, ReadOnlySpan<int> ids, int dim)
    {
        Debug.Assert(dy.Length >= ids.Length * dim);
        int columnBlocks = (dim + ColumnBlock - 1) / ColumnBlock;
        if (columnBlocks > 1 && Elementwise.Parallel((long)ids.Length * dim))
        {
            var op = new BackwardOp { DTable = dtable, DY = dy, Ids = ids, Dim = dim };
            WorkerPool.Shared.For(columnBlocks, ref op);
        }
        else BackwardColumns(dtable, dy, ids, dim, 0, dim);
    }

    // Columns per parallel block (a multiple of a Vector512).
    const int ColumnBlock = 64;

    static void BackwardColumns(Span<float> dtable, ReadOnlySpan<float> dy, ReadOnlySpan<int> ids, int dim, int c0, int c1)
    {
        int w = c1 - c0;
        for (int t = 0; t < ids.Length; t++)
        {
            Debug.Assert(ids[t] >= 0 && (long)(ids[t] + 1) * dim <= dtable.Length);
            var row = dtable.Slice(ids[t] * dim + c0, w);
            TensorPrimitives.Add(row, dy.Slice(t * dim + c0, w), row);
        }
    }

    ref struct BackwardOp : IParallelOp
    {
        public Span<float> DTable;
        public ReadOnlySpan<float> DY;
        public ReadOnlySpan<int> Ids;
        public int Dim;

        public readonly void Execute(int start, int end)
            => BackwardColumns(DTable, DY, Ids, Dim, start * ColumnBlock, Math.Min(Dim, end * ColumnBlock));
    }
}
