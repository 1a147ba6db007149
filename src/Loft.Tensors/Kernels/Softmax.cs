// Numerically stable softmax per row: y = exp(x - max x) / Σ exp(x - max x) (TensorPrimitives passes;
// TensorPrimitives.SoftMax itself does not subtract the max and overflows for logits above ~88).
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Loft.Tensors.Kernels;

public static unsafe class Softmax
{
    /// <summary>
    /// x[i] = exp(x[i] - max) over n floats in one pass, returning Σ x[i]: the fused middle of a softmax whose max is
    /// known (masked entries at -inf become 0).
    /// </summary>
    public static double ExpShiftedSum(float* x, int n, float max) => ExpShiftedSumMax(x, n, max, out _);

    /// <summary>
    /// x[i] = exp(x[i] - shift) over n floats in one pass, returning Σ x[i] (float partial sums over blocks of 1024,
    /// added in double: a float sum over 32k+ terms loses digits) and the largest input in <paramref name="max"/>: a
    /// softmax's exp pass, also for a shift guessed before the max is known (the caller checks max - shift and rescales
    /// or redoes the row when the guess was far below the max).
    /// </summary>
    public static double ExpShiftedSumMax(float* x, int n, float shift, out float max)
    {
        const int block = 1024;
        double total = 0;
        float mx = float.NegativeInfinity;
        int i = 0;
        while (i < n)
        {
            int end = Math.Min(n, i + block);
            float sum = 0f;
            if (Vector512.IsHardwareAccelerated)
            {
                var acc = Vector512<float>.Zero;
                var mv = Vector512.Create(float.NegativeInfinity);
                var sh = Vector512.Create(shift);
                for (; i + 16 <= end; i += 16)
                {
                    var v = Vector512.Load(x + i);
                    mv = Vector512.Max(mv, v);
                    var e = Vector512.Exp(v - sh);
                    e.Store(x + i);
                    acc += e;
                }
                sum = Vector512.Sum(acc);
                mx = MathF.Max(mx, HorizontalMax(mv));
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var acc = Vector256<float>.Zero;
                var mv = Vector256.Create(float.NegativeInfinity);
                var sh = Vector256.Create(shift);
                for (; i + 8 <= end; i += 8)
                {
                    var v = Vector256.Load(x + i);
                    mv = Vector256.Max(mv, v);
                    var e = Vector256.Exp(v - sh);
                    e.Store(x + i);
                    acc += e;
                }
                sum = Vector256.Sum(acc);
                for (int j = 0; j < Vector256<float>.Count; j++) mx = MathF.Max(mx, mv[j]);
            }
            for (; i < end; i++)
            {
                float v = x[i];
                mx = MathF.Max(mx, v);
                float e = MathF.Exp(v - shift);
                x[i] = e;
                sum += e;
            }
            total += sum;
        }
        max = mx;
        return total;
    }

    static float HorizontalMax(Vector512<float> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(m.GetLower(), m.GetUpper());
        float r = q[0];
        for (int j = 1; j < Vector128<float>.Count; j++) r = MathF.Max(r, q[j]);
        return r;
    }

    // x, y (rows, cols); y may alias x.
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, int rows, int cols)
    {
        Debug.Assert(y.Length >= rows * cols && x.Length >= rows * cols);
        if (cols == 0) return;
        for (int r = 0; r < rows; r++)
            Row(y.Slice(r * cols, cols), x.Slice(r * cols, cols));
    }

    /// <summary>One row: y = softmax(x), same length; y may alias x.</summary>
    public static void Row(Span<float> y, ReadOnlySpan<float> x)
    {
        Debug.Assert(y.Length == x.Length);
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        TensorPrimitives.Exp(y, y);
        float sum = TensorPrimitives.Sum(y);
        TensorPrimitives.Multiply(y, 1f / sum, y);
    }

    // dx (rows, cols) += y ⊙ (dy - Σ dy·y) per row; y is Forward's output.
    public static void Backward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> y, int rows, int cols)
    {
        Debug.Assert(dx.Length >= rows * cols && dy.Length >= rows * cols && y.Length >= rows * cols);
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols); var dyr = dy.Slice(r * cols, cols); var dxr = dx.Slice(r * cols, cols);
            float dot = TensorPrimitives.Dot(dyr, yr);
            for (int i = 0; i < cols; i++) dxr[i] += yr[i] * (dyr[i] - dot);
        }
    }
}
