// A trainable tensor as optimisers see it: a name, its float32 values and its gradient (same length),
// both row-major. Storage is any Memory<float> (managed arrays or native buffers wrapped by a MemoryManager).
namespace Loft.Nn;

public sealed class Parameter
{
    /// <summary>A parameter over existing storage; <paramref name="grad"/> must have the same length as <paramref name="value"/>.</summary>
    public Parameter(string name, Memory<float> value, Memory<float> grad, int[]? shape = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (grad.Length != value.Length)
            throw new ArgumentException($"parameter '{name}': gradient has {grad.Length} elements but the value has {value.Length}", nameof(grad));
        shape ??= [value.Length];
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"parameter '{name}': negative dimension {d} in shape [{string.Join(", ", shape)}]", nameof(shape));
            n *= d;
        }
        if (n != value.Length)
            throw new ArgumentException($"parameter '{name}': shape [{string.Join(", ", shape)}] holds {n} elements but the value has {value.Length}", nameof(shape));
        Name = name;
        Value = value;
        Grad = grad;
        Shape = shape;
    }

    /// <summary>A parameter owning fresh managed storage: the given values (copied) and a zero gradient.</summary>
    public static Parameter Create(string name, ReadOnlySpan<float> values, int[]? shape = null) =>
        new(name, values.ToArray(), new float[values.Length], shape);

    public string Name { get; }
    /// <summary>Dimensions, outermost first. Do not modify.</summary>
    public int[] Shape { get; }
    public Memory<float> Value { get; }
    public Memory<float> Grad { get; }
    public int Length => Value.Length;

    /// <summary>False freezes the parameter: optimisers and clipping skip it.</summary>
    public bool RequiresGrad { get; set; } = true;

    public void ZeroGrad() => Loft.Tensors.Kernels.Elementwise.Clear(Grad.Span);

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
