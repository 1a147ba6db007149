// The projections of the decoder (torch.nn.Linear semantics: y = x·Wᵀ + b, W stored [out, in]). Every
// projection's matmul happens in ILinear.Forward, so adapters (LoRA) replace a layer's ILinear with a wrapper.
using Loft.Tensors.Kernels;

namespace Loft.Models.Llama;

/// <summary>A linear map over rows: the single place a projection's product is computed.</summary>
public interface ILinear
{
    /// <summary>The HF module name, e.g. "model.layers.0.self_attn.q_proj".</summary>
    string Name { get; }

    int InFeatures { get; }

    int OutFeatures { get; }

    /// <summary>y (rows, OutFeatures) = x (rows, InFeatures) · Wᵀ (+ b). Overwrites y.</summary>
    void Forward(Span<float> y, ReadOnlySpan<float> x, int rows);
}

/// <summary>Bytes of weights a model may keep pre-packed for many-row products (shared by its projections).</summary>
internal sealed class PackBudget(long bytes)
{
    long _left = bytes;

    public bool TryTake(long bytes)
    {
        if (Interlocked.Add(ref _left, -bytes) >= 0) return true;
        Interlocked.Add(ref _left, bytes);
        return false;
    }

    public void Give(long bytes) => Interlocked.Add(ref _left, bytes);
}

/// <summary>A frozen F32 projection whose weight (and optional bias) live in the checkpoint's memory.</summary>
public sealed unsafe class Linear : ILinear
{
    /// <summary>Products with at least this many rows (prefill, batched evaluation) use a pre-packed copy of W.</summary>
    internal const int PackMinRows = 32;

    readonly float* _weight;
    readonly float* _bias;   // null when the projection has no bias
    readonly PackBudget? _budget;
    PackedWeight? _packed;
    volatile bool _packRefused;

    internal Linear(string name, float* weight, float* bias, int inFeatures, int outFeatures, PackBudget? budget = null)
    {
        Name = name;
        _weight = weight;
        _bias = bias;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _budget = budget;
    }

    public string Name { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public bool HasBias => _bias != null;

    /// <summary>W as (OutFeatures, InFeatures), row-major.</summary>
    public ReadOnlySpan<float> Weight => new(_weight, OutFeatures * InFeatures);

    /// <summary>b (OutFeatures), or empty.</summary>
    public ReadOnlySpan<float> Bias => _bias == null ? default : new ReadOnlySpan<float>(_bias, OutFeatures);

    internal float* WeightPointer => _weight;
    internal float* BiasPointer => _bias;

    /// <summary>Many rows use W packed once into the GEMM's panels (made on first use, within the model's pack budget),
    /// which saves packing W on every call; the products are the same, element by element.</summary>
    public void Forward(Span<float> y, ReadOnlySpan<float> x, int rows)
    {
        if (rows >= PackMinRows && Packed() is { } packed) MatMul.Forward(y, x, packed, Bias, rows);
        else MatMul.Forward(y, x, Weight, Bias, rows, InFeatures, OutFeatures);
    }

    long PackedBytes => (long)OutFeatures * InFeatures * sizeof(float);

    PackedWeight? Packed()
    {
        var packed = Volatile.Read(ref _packed);
        if (packed != null || _packRefused || _budget == null) return packed;
        if (!_budget.TryTake(PackedBytes))
        {
            _packRefused = true;
            return null;
        }
        var fresh = new PackedWeight(Weight, OutFeatures, InFeatures);
        var prior = Interlocked.CompareExchange(ref _packed, fresh, null);
        if (prior == null) return fresh;
        fresh.Dispose();
        _budget.Give(PackedBytes);
        return prior;
    }

    /// <summary>Frees the packed copy (the model is being disposed).</summary>
    internal void ReleasePacked()
    {
        var packed = Interlocked.Exchange(ref _packed, null);
        if (packed == null) return;
        packed.Dispose();
        _budget?.Give(PackedBytes);
    }

    public override string ToString() => $"{Name} ({InFeatures} -> {OutFeatures}{(HasBias ? ", bias" : "")})";
}
