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
            if (a.RequiresGrad) TensorPrimitives.Add(a.Grad, y.Grad, a.Grad);
            if (b.RequiresGrad) TensorPrimitives.Add(b.Grad, y.Grad, b.Grad);
        }
    }
}
