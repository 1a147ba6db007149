// Elementwise sum (the residual connection) on the tape: y = a + b; da += dy, db += dy.
using System.Numerics.Tensors;

namespace Loft.Autograd.Functions;

public static class Add
{
    public static Var Apply(Tape tape, Var a, Var b)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(a);
        Check.Shape(b, "Add", "b", a.Shape);
        bool req = tape.GradEnabled && (a.RequiresGrad || b.RequiresGrad);
        var y = tape.NewOutput((int[])a.Shape.Clone(), req);
        Loft.Tensors.Kernels.Add.Forward(y.Value, a.Value, b.Value);
        if (req) tape.Record(new Node(a, b, y));
        return y;
    }

    sealed class Node(Var a, Var b, Var y) : Autograd.Node
    {
        protected internal override void Backward(Tape tape)
        {
            if (a.RequiresGrad) Loft.Tensors.Kernels.Add.InPlace(a.Grad, y.Grad);
            if (b.RequiresGrad) Loft.Tensors.Kernels.Add.InPlace(b.Grad, y.Grad);
        }
    }
}
