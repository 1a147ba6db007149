// RMSNorm (Zhang & Sennrich 2019; HF LlamaRMSNorm) on the tape: y = x·rstd·w, rstd = 1/sqrt(mean(x²)+eps) saved
// per row. Kernels: Loft.Tensors.Kernels.RmsNorm (a frozen w accumulates into scratch, then is dropped).
using K = Loft.Tensors.Kernels;

namespace Loft.Autograd.Functions;

public static class RmsNorm
{
    /// <param name="x">(..., C)</param>
    /// <param name="weight">(C)</param>
    public static Var Apply(Tape tape, Var x, Var weight, float eps)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(weight);
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "RMSNorm eps must be > 0");
        int C = weight.Length;
        Check.Columns(x, C, "RmsNorm", "input");
        int rows = x.Rows;
        bool req = tape.GradEnabled && (x.RequiresGrad || weight.RequiresGrad);
        var y = tape.NewOutput((int[])x.Shape.Clone(), req);
        var rstd = tape.Scratch(rows);                                             // (rows)
        K.RmsNorm.Forward(y.Value, rstd.Span, x.Value, weight.Value, rows, C, eps);
        if (req) tape.Record(new Node(x, weight, y, rstd, rows, C));
        return y;
    }

    sealed class Node(Var x, Var w, Var y, Memory<float> rstd, int rows, int C) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            var dx = x.RequiresGrad ? x.Grad : tape.Scratch(rows * C).Span;
            var dw = w.RequiresGrad ? w.Grad : tape.Scratch(C).Span;
            K.RmsNorm.Backward(dx, dw, y.Grad, x.Value, w.Value, rstd.Span, rows, C);
        }
    }
}
