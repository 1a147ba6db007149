// A LLaMA-family causal decoder (HF LlamaForCausalLM, also MistralForCausalLM and Qwen2ForCausalLM): config +
// weights under HF names, validated on load and used in place (F32 weights are never copied), plus the inference path.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Loft.Formats;
using Loft.Formats.HuggingFace;
using Loft.Models.Inference;
using Loft.Tensors.Kernels;

namespace Loft.Models.Llama;

/// <summary>
/// The decoder: weights (read in place from the checkpoint), the layer structure (each projection an <see cref="ILinear"/>
/// that adapters can replace) and the inference path. Prefill / DecodeStep / ForwardAll share preallocated scratch
/// buffers, so one model serves one call at a time (use one model per thread for concurrent inference).
/// </summary>
public sealed unsafe class LlamaModel : ICausalLanguageModel, IDisposable
{
    readonly ITensorSource _weights;
    readonly bool _ownsWeights;
    readonly float* _embed, _finalNorm;
    readonly LlamaDecoderLayer[] _layers;
    readonly LlamaForwardPass _pass;
    ILinear _lmHead;
    bool _disposed;

    /// <summary>
    /// Builds the model over <paramref name="weights"/> (tensors under HF names; their F32 memory is used in place
    /// and must stay valid and unmoved while the model lives, as ITensorSource promises). <paramref name="source"/>
    /// names the checkpoint in errors. Throws InvalidDataException for an unsupported config, a missing tensor or a
    /// tensor whose shape disagrees with the config.
    /// </summary>
    public LlamaModel(ModelConfig config, ITensorSource weights, string source, bool ownsWeights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentException.ThrowIfNullOrEmpty(source);
        config = config.WithDefaults();
        config.Validate(source);
        Config = config;
        Source = source;
        _weights = weights;
        _ownsWeights = ownsWeights;

        var specs = TensorNames.Expected(config);
        foreach (var spec in specs)
        {
            if (!weights.Contains(spec.Name))
                throw new InvalidDataException($"{source}: tensor '{spec.Name}' is missing (the {config.ModelType} config needs it with shape {spec.ShapeText})");
            var info = weights.GetInfo(spec.Name);
            if (!info.Shape.AsSpan().SequenceEqual(spec.Shape))
                throw new InvalidDataException(
                    $"{source}: tensor '{spec.Name}' has shape {info.ShapeText} but the config needs {spec.ShapeText} " +
                    $"(hidden_size {config.HiddenSize}, intermediate_size {config.IntermediateSize}, heads {config.NumAttentionHeads}, " +
                    $"kv heads {config.KeyValueHeads}, head_dim {config.HeadSize}, vocab_size {config.VocabSize})");
            if (!TensorDTypes.IsFloatReadable(info.DType))
                throw new InvalidDataException($"{source}: tensor '{spec.Name}' has dtype {TensorDTypes.ToSafeTensorsName(info.DType)}; the model needs F32, F16 or BF16");
        }

        int d = config.HiddenSize;
        _embed = Ptr(TensorNames.EmbedTokens);
        _finalNorm = Ptr(TensorNames.FinalNorm);
        _layers = new LlamaDecoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
        {
            var attention = new LlamaAttention(
                MakeLinear(TensorNames.QProj(i)), MakeLinear(TensorNames.KProj(i)),
                MakeLinear(TensorNames.VProj(i)), MakeLinear(TensorNames.OProj(i)));
            var mlp = new LlamaMlp(MakeLinear(TensorNames.GateProj(i)), MakeLinear(TensorNames.UpProj(i)), MakeLinear(TensorNames.DownProj(i)));
            _layers[i] = new LlamaDecoderLayer(i, d, Ptr(TensorNames.InputLayerNorm(i)), Ptr(TensorNames.PostAttentionLayerNorm(i)), attention, mlp);
        }
        _lmHead = config.TieWordEmbeddings
            ? Track(new Linear("lm_head (tied to model.embed_tokens)", _embed, null, d, config.VocabSize, _packBudget))
            : MakeLinear("lm_head");

        foreach (var spec in specs) ParameterCount += spec.ElementCount;
        // Per decoded token every matrix is read once, except the input embedding table (one row) when untied.
        WeightBytesPerToken = (ParameterCount - (config.TieWordEmbeddings ? 0 : (long)config.VocabSize * d)) * sizeof(float);

        int window = config.EffectiveSlidingWindow ?? int.MaxValue;
        MaxContext = Math.Min(config.MaxPositionEmbeddings, window);
        Rope = new RopeTable(RopeFrequencies.For(config), MaxContext);
        _pass = new LlamaForwardPass(this);
    }

    float* Ptr(string name)
    {
        var span = _weights.GetFloat32(name);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
    }

    Linear MakeLinear(string module)
    {
        var info = _weights.GetInfo(module + ".weight");
        string bias = module + ".bias";
        return Track(new Linear(module, Ptr(module + ".weight"), _weights.Contains(bias) && ExpectsBias(module) ? Ptr(bias) : null,
            info.Shape[1], info.Shape[0], _packBudget));
    }

    Linear Track(Linear linear)
    {
        _linears.Add(linear);
        return linear;
    }

    /// <summary>Bytes of pre-packed weight copies a model keeps for prefill (the projections packed first get them):
    /// small and mid-size models are packed whole, a 7B F32 model only partly.</summary>
    public const long PrepackBudgetBytes = 2L << 30;

    readonly PackBudget _packBudget = new(PrepackBudgetBytes);
    readonly List<Linear> _linears = [];

    bool ExpectsBias(string module) =>
        module.EndsWith("q_proj", StringComparison.Ordinal) || module.EndsWith("k_proj", StringComparison.Ordinal) || module.EndsWith("v_proj", StringComparison.Ordinal)
            ? Config.HasQkvBias
            : module.EndsWith("o_proj", StringComparison.Ordinal) ? Config.HasOutputProjectionBias
            : module != "lm_head" && Config.HasMlpBias;

    /// <summary>Opens an HF model folder (config.json + safetensors) or a llama2.c .bin via CheckpointLoader.</summary>
    public static LlamaModel Load(string path)
    {
        var checkpoint = CheckpointLoader.Open(path);
        try
        {
            return FromCheckpoint(checkpoint, ownsCheckpoint: true);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Builds the model over an open checkpoint (its Config and tensors); disposes it with the model when owned.</summary>
    public static LlamaModel FromCheckpoint(ICheckpoint checkpoint, bool ownsCheckpoint = true)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new LlamaModel(checkpoint.Config, checkpoint, checkpoint.SourcePath, ownsCheckpoint);
    }

    /// <summary>
    /// A model with random weights in native memory (benchmarks, tests): every matrix and bias drawn from
    /// normal(0, initializer_range) as HF _init_weights does, RMSNorm weights 1. Deterministic for a seed.
    /// </summary>
    public static LlamaModel CreateRandom(ModelConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        config = config.WithDefaults();
        config.Validate("random model config");
        var store = new NativeTensorStore($"random weights (seed {seed})");
        try
        {
            float std = (float)config.InitializerRange;
            var specs = TensorNames.Expected(config);
            for (int i = 0; i < specs.Count; i++)
            {
                var data = store.Add(specs[i].Name, specs[i].Shape);
                if (specs[i].Shape.Length == 1 && specs[i].Name.EndsWith("norm.weight", StringComparison.Ordinal)) data.Fill(1f);
                else FillNormal(data, std, (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + (ulong)i);
            }
            return new LlamaModel(config, store, store.Description, ownsWeights: true);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Fills <paramref name="data"/> with normal(0, std) samples (Box-Muller over SplitMix64).</summary>
    internal static void FillNormal(Span<float> data, float std, ulong seed)
    {
        ulong state = seed;
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = ((SplitMix(ref state) >> 11) + 1) * (1.0 / 9007199254740993.0);   // (0, 1]
            double u2 = (SplitMix(ref state) >> 11) * (1.0 / 9007199254740992.0);        // [0, 1)
            double r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
            data[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }

    static ulong SplitMix(ref ulong s)
    {
        ulong z = s += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ModelConfig Config { get; }

    /// <summary>The checkpoint path (or a description of in-memory weights).</summary>
    public string Source { get; }

    /// <summary>The weights the model reads (the checkpoint, or the native store of a random model).</summary>
    public ITensorSource Weights => _weights;

    public IReadOnlyList<LlamaDecoderLayer> Layers => _layers;

    /// <summary>model.embed_tokens.weight (vocab_size, hidden_size).</summary>
    public ReadOnlySpan<float> EmbedTokens => new(_embed, Config.VocabSize * Config.HiddenSize);

    /// <summary>model.norm.weight (hidden_size).</summary>
    public ReadOnlySpan<float> FinalNorm => new(_finalNorm, Config.HiddenSize);

    /// <summary>The classifier: lm_head.weight, or the embedding table when tie_word_embeddings. Settable for adapters.</summary>
    public ILinear LmHead { get => _lmHead; set => _lmHead = LlamaAttention.Replace(_lmHead, value); }

    public RopeTable Rope { get; }

    /// <summary>Number of parameters (tied embeddings counted once).</summary>
    public long ParameterCount { get; }

    /// <summary>Bytes of weights one decode step reads (every matrix once; one embedding row ignored).</summary>
    public long WeightBytesPerToken { get; }

    public int VocabSize => Config.VocabSize;

    /// <summary>max_position_embeddings, capped by an effective sliding window (sequences never outgrow it, so full attention is exact).</summary>
    public int MaxContext { get; }

    /// <summary>Every projection of every layer, then the classifier.</summary>
    public IEnumerable<ILinear> Projections => _layers.SelectMany(l => l.Projections).Append(_lmHead);

    IKvCache ICausalLanguageModel.CreateCache(int slots, int capacity) => CreateCache(slots, capacity);

    /// <summary>A cache for <paramref name="slots"/> sequences of up to <paramref name="capacity"/> (at most MaxContext) tokens.</summary>
    public KvCache CreateCache(int slots, int capacity)
    {
        ThrowIfDisposed();
        if (capacity > MaxContext)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"cache capacity {capacity} exceeds the model's context of {MaxContext} tokens");
        return new KvCache(slots, capacity, Config.NumHiddenLayers, Config.KeyValueHeads * Config.HeadSize);
    }

    /// <inheritdoc/>
    public void Prefill(IKvCache cache, int slot, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        ThrowIfDisposed();
        _pass.Prefill(AsOwnCache(cache), slot, tokens, logits);
    }

    /// <inheritdoc/>
    public void DecodeStep(IKvCache cache, ReadOnlySpan<int> slots, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        ThrowIfDisposed();
        _pass.DecodeStep(AsOwnCache(cache), slots, tokens, logits);
    }

    /// <summary>
    /// One forward pass over a whole sequence from position 0 without a cache (evaluation, perplexity):
    /// <paramref name="logits"/> receives (T, VocabSize).
    /// </summary>
    public void ForwardAll(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        ThrowIfDisposed();
        _pass.ForwardAll(tokens, logits);
    }

    KvCache AsOwnCache(IKvCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache is not KvCache kv)
            throw new ArgumentException($"expected a cache from LlamaModel.CreateCache, got {cache.GetType().Name}", nameof(cache));
        ObjectDisposedException.ThrowIf(kv.IsDisposed, kv);
        int kvDim = Config.KeyValueHeads * Config.HeadSize;
        if (kv.Layers != Config.NumHiddenLayers || kv.KvDim != kvDim)
            throw new ArgumentException(
                $"the cache has {kv.Layers} layers of width {kv.KvDim} but this model needs {Config.NumHiddenLayers} layers of width {kvDim}", nameof(cache));
        return kv;
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var linear in _linears) linear.ReleasePacked();
        if (_ownsWeights) _weights.Dispose();
    }

    public override string ToString() =>
        $"{Config.ModelType} {ParameterCount / 1e6:F1}M params: {Config.NumHiddenLayers} layers, hidden {Config.HiddenSize}, " +
        $"heads {Config.NumAttentionHeads}/{Config.KeyValueHeads} x {Config.HeadSize}, vocab {Config.VocabSize}, context {MaxContext}";
}
