// A LoRA adapter in memory: options plus, per wrapped module, A (r, in) and B (out, r), and the fully trained
// copies of modules_to_save. Creation with PEFT's init, validation against a base model, PEFT's parameter count.
using System.Globalization;
using Loft.Formats;

namespace Loft.Peft.Lora;

/// <summary>The LoRA pair of one nn.Linear module (Hugging Face name, e.g. "model.layers.0.self_attn.q_proj").</summary>
public sealed class LoraModuleWeights
{
    public LoraModuleWeights(string module, int rank, int inFeatures, int outFeatures, float scaling, float[]? a = null, float[]? b = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(module);
        if (rank <= 0 || inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"module '{module}': rank, in_features and out_features must be > 0, got {rank}, {inFeatures}, {outFeatures}");
        a ??= new float[rank * inFeatures];
        b ??= new float[outFeatures * rank];
        if (a.Length != rank * inFeatures) throw new ArgumentException($"module '{module}': lora_A has {a.Length} elements, expected [{rank}, {inFeatures}]", nameof(a));
        if (b.Length != outFeatures * rank) throw new ArgumentException($"module '{module}': lora_B has {b.Length} elements, expected [{outFeatures}, {rank}]", nameof(b));
        Module = module; Rank = rank; InFeatures = inFeatures; OutFeatures = outFeatures; Scaling = scaling; A = a; B = b;
    }

    public string Module { get; }
    public int Rank { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    /// <summary>alpha/r (alpha/√r with rsLoRA) for this module.</summary>
    public float Scaling { get; }
    /// <summary>lora_A.weight, (r, in).</summary>
    public float[] A { get; }
    /// <summary>lora_B.weight, (out, r).</summary>
    public float[] B { get; }
    /// <summary>The base weight this pair adapts.</summary>
    public string BaseWeightName => Module + ".weight";

    public void DeltaWeight(Span<float> delta) => LoraMath.DeltaWeight(delta, A, B, OutFeatures, InFeatures, Rank, Scaling);
    public void Merge(Span<float> weight) => LoraMath.Merge(weight, A, B, OutFeatures, InFeatures, Rank, Scaling);
    public void Unmerge(Span<float> weight) => LoraMath.Unmerge(weight, A, B, OutFeatures, InFeatures, Rank, Scaling);
}

/// <summary>A fully trained copy of a module named in modules_to_save (e.g. "lm_head", "model.embed_tokens").</summary>
public sealed class SavedModuleWeights
{
    public SavedModuleWeights(string tensorName, int[] shape, float[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n != data.Length) throw new ArgumentException($"'{tensorName}': shape [{string.Join(", ", shape)}] holds {n} elements but the data has {data.Length}", nameof(data));
        TensorName = tensorName; Shape = shape; Data = data;
    }

    /// <summary>The base tensor it replaces, e.g. "lm_head.weight".</summary>
    public string TensorName { get; }
    public int[] Shape { get; }
    public float[] Data { get; }
}

public sealed class LoraAdapter
{
    public LoraAdapter(LoraOptions options, IEnumerable<LoraModuleWeights> modules, IEnumerable<SavedModuleWeights>? savedModules = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(modules);
        options.Validate();
        Options = options;
        var dict = new SortedDictionary<string, LoraModuleWeights>(StringComparer.Ordinal);
        foreach (var m in modules)
            if (!dict.TryAdd(m.Module, m)) throw new ArgumentException($"module '{m.Module}' appears twice", nameof(modules));
        Modules = dict.Values.ToList();
        _byName = new Dictionary<string, LoraModuleWeights>(dict, StringComparer.Ordinal);
        var saved = new SortedDictionary<string, SavedModuleWeights>(StringComparer.Ordinal);
        foreach (var s in savedModules ?? [])
            if (!saved.TryAdd(s.TensorName, s)) throw new ArgumentException($"saved tensor '{s.TensorName}' appears twice", nameof(savedModules));
        SavedModules = saved.Values.ToList();
    }

    readonly Dictionary<string, LoraModuleWeights> _byName;

    public LoraOptions Options { get; }
    /// <summary>LoRA pairs sorted by module name.</summary>
    public IReadOnlyList<LoraModuleWeights> Modules { get; }
    /// <summary>modules_to_save copies sorted by tensor name.</summary>
    public IReadOnlyList<SavedModuleWeights> SavedModules { get; }

    public LoraModuleWeights this[string module] => _byName.TryGetValue(module, out var m) ? m
        : throw new KeyNotFoundException($"the adapter has no LoRA module '{module}'");

    public bool TryGetModule(string module, out LoraModuleWeights weights) => _byName.TryGetValue(module, out weights!);

    /// <summary>The same LoRA pairs (shared, not copied) without the modules_to_save copies, e.g. to wrap projections
    /// of a model that already carries the copies (<see cref="SavedModulesCheckpoint"/>).</summary>
    public LoraAdapter WithoutSavedModules() => SavedModules.Count == 0 ? this : new LoraAdapter(Options, Modules);

    /// <summary>
    /// Merges this adapter into one base tensor (peft merge_and_unload, tensor by tensor): a LoRA module's weight
    /// gets W += scaling·B·A, a modules_to_save tensor is replaced by its trained copy. False when the adapter
    /// does not touch <paramref name="tensorName"/>.
    /// </summary>
    public bool TryMergeInto(string tensorName, Span<float> weight)
    {
        ArgumentNullException.ThrowIfNull(tensorName);
        if (tensorName.EndsWith(".weight", StringComparison.Ordinal) && _byName.TryGetValue(tensorName[..^".weight".Length], out var m))
        {
            m.Merge(weight);
            return true;
        }
        foreach (var s in SavedModules)
            if (s.TensorName == tensorName)
            {
                if (s.Data.Length != weight.Length)
                    throw new ArgumentException($"modules_to_save tensor '{tensorName}' has {s.Data.Length} elements but the weight has {weight.Length}", nameof(weight));
                s.Data.CopyTo(weight);
                return true;
            }
        return false;
    }

    /// <summary>Undoes <see cref="TryMergeInto"/> for a LoRA module's weight (W -= scaling·B·A); modules_to_save copies cannot be unmerged.</summary>
    public bool TryUnmergeFrom(string tensorName, Span<float> weight)
    {
        ArgumentNullException.ThrowIfNull(tensorName);
        if (!tensorName.EndsWith(".weight", StringComparison.Ordinal) || !_byName.TryGetValue(tensorName[..^".weight".Length], out var m)) return false;
        m.Unmerge(weight);
        return true;
    }

    /// <summary>Adapter parameters: every A and B plus the modules_to_save copies.</summary>
    public long TrainableParameterCount
    {
        get
        {
            long n = 0;
            foreach (var m in Modules) n += m.A.LongLength + m.B.LongLength;
            foreach (var s in SavedModules) n += s.Data.LongLength;
            return n;
        }
    }

    /// <summary>
    /// A new adapter for <paramref name="baseModel"/> initialised as PEFT does (see <see cref="LoraInit"/>), with a
    /// seeded RNG (same seed, same adapter). The linear modules are the 2-D ".weight" tensors other than the
    /// embeddings; modules_to_save copies start as the base tensors (a tied lm_head copies model.embed_tokens).
    /// </summary>
    public static LoraAdapter Create(LoraOptions options, ITensorSource baseModel, int seed, string modelType = "llama")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(baseModel);
        options.Validate();
        var rng = new Random(seed);
        var modules = new List<LoraModuleWeights>();
        foreach (var name in options.ResolveTargets(LinearModules(baseModel), modelType))
        {
            var shape = baseModel.GetInfo(name + ".weight").Shape;
            int r = options.RankFor(name);
            var m = new LoraModuleWeights(name, r, shape[1], shape[0], (float)options.ScalingFor(name));
            switch (options.InitLoraWeights)
            {
                case LoraInit.Default:
                    LoraMath.InitKaimingUniform(m.A, m.InFeatures, rng);
                    break;
                case LoraInit.Gaussian:
                    LoraMath.InitGaussian(m.A, r, rng);
                    break;
                default: // nn.Linear's own init for both: kaiming_uniform_(a=√5) over each fan_in
                    LoraMath.InitKaimingUniform(m.A, m.InFeatures, rng);
                    LoraMath.InitKaimingUniform(m.B, r, rng);
                    break;
            }
            modules.Add(m);
        }
        var saved = new List<SavedModuleWeights>();
        foreach (var tensor in ModulesToSaveTensors(options, baseModel))
        {
            var source = ResolveBaseTensor(baseModel, tensor) ?? throw new ArgumentException($"modules_to_save: the base model has no tensor '{tensor}'");
            saved.Add(new SavedModuleWeights(tensor, (int[])baseModel.GetInfo(source).Shape.Clone(), baseModel.GetFloat32(source).ToArray()));
        }
        return new LoraAdapter(options, modules, saved);
    }

    /// <summary>Module names of the base model's nn.Linear layers: 2-D ".weight" tensors except embeddings.</summary>
    public static IReadOnlyList<string> LinearModules(ITensorSource baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        var list = new List<string>();
        foreach (var t in baseModel.Tensors)
            if (t.Shape.Length == 2 && t.Name.EndsWith(".weight", StringComparison.Ordinal) && !t.Name.EndsWith("embed_tokens.weight", StringComparison.Ordinal))
                list.Add(t.Name[..^".weight".Length]);
        return list;
    }

    // The ".weight" tensors of modules_to_save (PEFT matches a module when its name ends with the entry);
    // "lm_head" is included for a tied model that stores no lm_head.weight.
    static IEnumerable<string> ModulesToSaveTensors(LoraOptions options, ITensorSource baseModel)
    {
        if (options.ModulesToSave == null) yield break;
        var modules = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in baseModel.Tensors)
        {
            if (!t.Name.EndsWith(".weight", StringComparison.Ordinal)) continue;
            var module = t.Name[..^".weight".Length];
            if (LoraOptions.MatchesModuleToSave(options.ModulesToSave, module)) modules.Add(module);
        }
        if (options.ModulesToSave.Contains("lm_head") && !baseModel.Contains("lm_head.weight")) modules.Add("lm_head");
        foreach (var m in modules) yield return m + ".weight";
    }

    // A tied model stores no lm_head.weight: the output projection is model.embed_tokens.weight.
    static string? ResolveBaseTensor(ITensorSource baseModel, string tensor)
    {
        if (baseModel.Contains(tensor)) return tensor;
        if (tensor == "lm_head.weight" && baseModel.Contains("model.embed_tokens.weight")) return "model.embed_tokens.weight";
        return null;
    }

    /// <summary>
    /// Checks that every adapted module and saved tensor exists in <paramref name="baseModel"/> with matching
    /// shapes; an adapter made for another base throws InvalidDataException naming the tensor and both shapes.
    /// </summary>
    public void ValidateAgainst(ITensorSource baseModel, string? adapterSource = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        string where = adapterSource != null ? adapterSource + ": " : "";
        foreach (var m in Modules)
        {
            if (!baseModel.Contains(m.BaseWeightName))
                throw new InvalidDataException($"{where}LoRA module '{m.Module}' adapts '{m.BaseWeightName}', which the base model does not have");
            var shape = baseModel.GetInfo(m.BaseWeightName).Shape;
            if (shape.Length != 2 || shape[0] != m.OutFeatures || shape[1] != m.InFeatures)
                throw new InvalidDataException(
                    $"{where}tensor '{LoraAdapterFile.PeftName(m.Module, "lora_A")}' has shape [{m.Rank}, {m.InFeatures}] and '{LoraAdapterFile.PeftName(m.Module, "lora_B")}' [{m.OutFeatures}, {m.Rank}], " +
                    $"but base weight '{m.BaseWeightName}' is [{string.Join(", ", shape)}]: expected lora_A [{m.Rank}, {(shape.Length == 2 ? shape[1] : -1)}] and lora_B [{shape[0]}, {m.Rank}] (an adapter for a different base model?)");
        }
        foreach (var s in SavedModules)
        {
            var source = ResolveBaseTensor(baseModel, s.TensorName)
                ?? throw new InvalidDataException($"{where}modules_to_save tensor '{LoraAdapterFile.PeftSavedName(s.TensorName)}' replaces '{s.TensorName}', which the base model does not have");
            var shape = baseModel.GetInfo(source).Shape;
            if (!shape.AsSpan().SequenceEqual(s.Shape))
                throw new InvalidDataException($"{where}tensor '{LoraAdapterFile.PeftSavedName(s.TensorName)}' has shape [{string.Join(", ", s.Shape)}] but base tensor '{source}' is [{string.Join(", ", shape)}] (expected [{string.Join(", ", shape)}])");
        }
    }

    /// <summary>PEFT's print_trainable_parameters line for this adapter on <paramref name="baseModel"/>
    /// (all params = base tensors + adapter tensors, since PEFT keeps the frozen originals of modules_to_save).</summary>
    public string TrainableParametersText(ITensorSource baseModel)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        long trainable = TrainableParameterCount;
        return FormatTrainableParameters(trainable, baseModel.ParameterCount() + trainable);
    }

    /// <summary>Exactly peft's f"trainable params: {t:,d} || all params: {a:,d} || trainable%: {100 * t / a:.4f}".</summary>
    public static string FormatTrainableParameters(long trainable, long all)
    {
        if (trainable < 0 || all <= 0 || trainable > all)
            throw new ArgumentException($"need 0 <= trainable <= all and all > 0, got trainable {trainable}, all {all}");
        double pct = 100.0 * trainable / all;
        return string.Create(CultureInfo.InvariantCulture, $"trainable params: {trainable:N0} || all params: {all:N0} || trainable%: {pct:F4}");
    }
}
