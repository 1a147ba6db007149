// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (norm_type 2): total = ||(||g_1||, ..., ||g_n||)||₂
// over every trainable gradient; when max_norm/(total + 1e-6) < 1 every gradient is scaled by that factor.
using System.Numerics.Tensors;
using Loft.Tensors.Kernels;
using Loft.Tensors.Threading;

namespace Loft.Nn.Optim;

public static class ClipGradNorm
{
    /// <summary>The total 2-norm of the gradients of the parameters with RequiresGrad (accumulated in double).</summary>
    public static double TotalNorm(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sumSq = 0;
        foreach (var p in parameters)
        {
            if (!p.RequiresGrad) continue;
            var g = p.Grad.Span;
            int blocks = (g.Length + Block - 1) / Block;
            double[] partial = System.Buffers.ArrayPool<double>.Shared.Rent(blocks);
            var op = new SumSquaresOp { G = g, Partial = partial };
            if (Elementwise.Parallel(g.Length)) WorkerPool.Shared.For(blocks, ref op);
            else op.Execute(0, blocks);
            double s = 0;
            for (int b = 0; b < blocks; b++) s += partial[b];   // in block order: the same on any thread count
            System.Buffers.ArrayPool<double>.Shared.Return(partial);
            sumSq += s;
        }
        return Math.Sqrt(sumSq);
    }

    const int Block = 4096; // float dot products over short blocks, summed in double

    ref struct SumSquaresOp : IParallelOp
    {
        public ReadOnlySpan<float> G;
        public double[] Partial;

        public readonly void Execute(int start, int end)
        {
            for (int b = start; b < end; b++)
            {
                var x = G.Slice(b * Block, Math.Min(Block, G.Length - b * Block));
                Partial[b] = TensorPrimitives.Dot(x, x);
            }
        }
    }

    ref struct ScaleOp : IParallelOp
    {
        public Span<float> G;
        public float C;

        public readonly void Execute(int start, int end)
        {
            var (a, n) = Elementwise.Range(start, end, G.Length);
            TensorPrimitives.Multiply(G.Slice(a, n), C, G.Slice(a, n));
        }
    }

    /// <summary>
    /// Clips in place and returns the total norm before clipping (torch returns it too).
    /// A non-finite total throws when <paramref name="errorIfNonFinite"/> is set, like torch's error_if_nonfinite.
    /// </summary>
    public static double Clip(IEnumerable<Parameter> parameters, double maxNorm, bool errorIfNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"max_norm must be >= 0, got {maxNorm}");
        var list = parameters as IReadOnlyList<Parameter> ?? parameters.ToList();
        double total = TotalNorm(list);
        if (errorIfNonFinite && !double.IsFinite(total))
            throw new InvalidOperationException($"the total norm of the gradients is {total}; they cannot be clipped (errorIfNonFinite)");
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1)
        {
            float c = (float)coef;
            foreach (var p in list)
                if (p.RequiresGrad)
                {
                    var op = new ScaleOp { G = p.Grad.Span, C = c };
                    if (Elementwise.Parallel(op.G.Length)) WorkerPool.Shared.For(Elementwise.Blocks(op.G.Length), ref op);
                    else TensorPrimitives.Multiply(op.G, c, op.G);
                }
        }
        return total;
    }
}
