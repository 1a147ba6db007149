// RMSNorm (Zhang & Sennrich 2019) as HF LlamaRMSNorm: y = x / sqrt(mean(x²) + eps) * w, per row;
// rstd = 1/sqrt(mean(x²) + eps) is saved for the backward pass.
using System.Diagnostics;
using System.Buffers;
using System.Numerics.Tensors;
using Loft.Tensors.Threading;

namespace Loft.Tensors.Kernels;

public static class RmsNorm
{
    // x, y (rows, dim); w (dim); rstd (rows) or empty.
    public static void Forward(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int rows, int dim, float eps)
    {
        Debug.Assert(y.Length >= rows * dim && x.Length >= rows * dim && w.Length >= dim && (rstd.IsEmpty || rstd.Length >= rows));
        if (Elementwise.Parallel((long)rows * dim) && rows > 1)
        {
            var op = new ForwardOp { Y = y, Rstd = rstd, X = x, W = w, Rows = rows, Dim = dim, Eps = eps, Per = Elementwise.RowsPerBlock(dim) };
            WorkerPool.Shared.For((rows + op.Per - 1) / op.Per, ref op);
            return;
        }
        ForwardRows(y, rstd, x, w, 0, rows, dim, eps);
    }

    ref struct ForwardOp : IParallelOp
    {
        public Span<float> Y, Rstd;
        public ReadOnlySpan<float> X, W;
        public int Rows, Dim, Per;
        public float Eps;

        public readonly void Execute(int start, int end) => ForwardRows(Y, Rstd, X, W, start * Per, Math.Min(Rows, end * Per), Dim, Eps);
    }

    static void ForwardRows(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int r0, int r1, int dim, float eps)
    {
        for (int r = r0; r < r1; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            float rs = 1f / MathF.Sqrt(TensorPrimitives.Dot(xr, xr) / dim + eps);
            if (!rstd.IsEmpty) rstd[r] = rs;
            TensorPrimitives.Multiply(xr, rs, yr);
            TensorPrimitives.Multiply(yr, w.Slice(0, dim), yr);
        }
    }

    // dw (dim) += Σ_rows dy·x·rstd;  dx (rows, dim) += rstd·w·dy - x·rstd³/dim·Σ_i dy_i·w_i·x_i.
    // rstd (rows) from Forward.
    public static void Backward(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> rstd, int rows, int dim)
    {
        Debug.Assert(dx.Length >= rows * dim && dw.Length >= dim && dy.Length >= rows * dim && x.Length >= rows * dim && w.Length >= dim && rstd.Length >= rows);
        if (rows == 0 || dim == 0) return;
        int per = Elementwise.RowsPerBlock(dim), blocks = (rows + per - 1) / per;
        // Each block of rows sums its dw into its own partial row; the partials are added in block order afterwards,
        // so the result does not depend on the thread count.
        float[] partial = ArrayPool<float>.Shared.Rent(blocks * dim);
        try
        {
            var op = new BackwardOp { Dx = dx, Partial = partial, Dy = dy, X = x, W = w, Rstd = rstd, Rows = rows, Dim = dim, Per = per };
            if (Elementwise.Parallel((long)rows * dim) && blocks > 1) WorkerPool.Shared.For(blocks, ref op);
            else op.Execute(0, blocks);
            var dwd = dw.Slice(0, dim);
            for (int b = 0; b < blocks; b++) TensorPrimitives.Add(dwd, partial.AsSpan(b * dim, dim), dwd);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    ref struct BackwardOp : IParallelOp
    {
        public Span<float> Dx;
        public float[] Partial;
        public ReadOnlySpan<float> Dy, X, W, Rstd;
        public int Rows, Dim, Per;

        public readonly void Execute(int start, int end)
        {
            int dim = Dim;
            var wd = W.Slice(0, dim);
            float[]? rented = dim <= 1024 ? null : ArrayPool<float>.Shared.Rent(dim);
            Span<float> t = rented == null ? stackalloc float[dim] : rented.AsSpan(0, dim);   // dy·w, then dy·x
            for (int b = start; b < end; b++)
            {
                var dwd = Partial.AsSpan(b * dim, dim);
                dwd.Clear();
                for (int r = b * Per; r < Math.Min(Rows, (b + 1) * Per); r++)
                {
                    var xr = X.Slice(r * dim, dim); var dyr = Dy.Slice(r * dim, dim); var dxr = Dx.Slice(r * dim, dim);
                    float rs = Rstd[r];
                    TensorPrimitives.Multiply(dyr, wd, t);
                    float c = rs * rs * rs / dim * TensorPrimitives.Dot(t, xr);
                    TensorPrimitives.MultiplyAdd(t, rs, dxr, dxr);          // dx += rs·w·dy
                    TensorPrimitives.MultiplyAdd(xr, -c, dxr, dxr);         // dx -= c·x
                    TensorPrimitives.Multiply(dyr, xr, t);
                    TensorPrimitives.MultiplyAdd(t, rs, dwd, dwd);          // dw += rs·dy·x
                }
            }
            if (rented != null) ArrayPool<float>.Shared.Return(rented);
        }
    }
}
