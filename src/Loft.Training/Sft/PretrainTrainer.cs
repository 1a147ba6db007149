// Causal-LM pretraining (transformers run_clm.py's group_texts): plain-text documents are tokenized (BOS/EOS around
// each), concatenated and cut into max_length chunks; every token is a target. Full training from a random
// initialisation (HF _init_weights: normal(0, initializer_range), RMSNorm weights 1) or from a checkpoint.
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Formats.HuggingFace;
using Loft.Models.Llama;
using Loft.Tensors.Threading;
using Loft.Tokenizers;
using Loft.Training.Data;

namespace Loft.Training.Sft;

public sealed class PretrainTrainer : TrainerBase
{
    readonly string? _tokenizerFolder;

    PretrainTrainer(TrainableLlama model, SftOptions options, SftBatcher train, SftBatcher? eval, int chunks, string? tokenizerFolder)
        : base(model, options, train, eval)
    {
        ChunkCount = chunks;
        _tokenizerFolder = tokenizerFolder;
    }

    /// <summary>Number of max_length chunks the text made.</summary>
    public int ChunkCount { get; }

    protected override string? TokenizerFolder => _tokenizerFolder;

    /// <summary>
    /// Builds a pretraining run: from <paramref name="config"/> with random weights (seeded with options.Seed; the
    /// tokenizer comes from options.Tokenizer), or, when config is null, continuing from options.Model. options.EvalData,
    /// when given, is a plain-text file chunked the same way and used instead of a split.
    /// </summary>
    public static PretrainTrainer Create(SftOptions options, ModelConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options with { Full = true, InitAdapter = null, Packing = false };
        options.Validate();
        if (string.IsNullOrEmpty(options.Data)) throw new ArgumentException("data: the text file is required");
        if (config == null && string.IsNullOrEmpty(options.Model)) throw new ArgumentException("model: a checkpoint or a config is required");
        if (config != null && string.IsNullOrEmpty(options.Tokenizer)) throw new ArgumentException("tokenizer: training from a config needs --tokenizer");
        if (options.Threads > 0) WorkerPool.SetThreadCount(options.Threads);
        using ICheckpoint checkpoint = config != null ? RandomCheckpoint.Create(config, options.Seed) : CheckpointLoader.Open(options.Model!);
        string tokPath = options.Tokenizer ?? SftTrainer.ModelFolder(options.Model!);
        var tokenizer = TokenizerLoader.Load(tokPath, checkpoint.Config.VocabSize);
        var chunks = Chunk(Dataset.ReadText(options.Data), tokenizer, options.MaxLength, options.Data);
        var dataOptions = options.ToDataOptions();
        var dataset = SftDataset.FromTokenized(chunks, dataOptions, options.Data);
        var evalExamples = options.EvalData is { } evalPath
            ? LoadEvalData(evalPath, p => SftDataset.FromTokenized(Chunk(Dataset.ReadText(p), tokenizer, options.MaxLength, p), dataOptions, p)).Train
            : dataset.Eval;
        var model = TrainableLlama.CreateFull(checkpoint, new TrainableLlamaOptions { GradientCheckpointing = options.GradientCheckpointing });
        var train = new SftBatcher(dataset.Train, dataOptions, tokenizer.PadId ?? 0);
        var eval = evalExamples.Count > 0 ? new SftBatcher(evalExamples, dataOptions, tokenizer.PadId ?? 0) : null;
        return new PretrainTrainer(model, options, train, eval, chunks.Count, Directory.Exists(tokPath) ? tokPath : Path.GetDirectoryName(Path.GetFullPath(tokPath)));
    }

    /// <summary>Tokenizes documents (BOS + text + EOS where the tokenizer has them), concatenates them and cuts the
    /// stream into <paramref name="maxLength"/> chunks; a final remainder of at least 2 tokens is kept.</summary>
    public static List<TokenizedExample> Chunk(IEnumerable<TextDocument> documents, ITokenizer tokenizer, int maxLength, string source)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "max_length must be >= 2");
        var stream = new List<int>();
        foreach (var d in documents)
        {
            if (string.IsNullOrWhiteSpace(d.Text)) continue;
            stream.AddRange(tokenizer.Encode(d.Text, addBos: tokenizer.BosId != null, addEos: tokenizer.EosId != null));
        }
        if (stream.Count < 2) throw new InvalidDataException($"{source}: the text is empty (no tokens to train on)");
        var chunks = new List<TokenizedExample>();
        for (int at = 0; at < stream.Count; at += maxLength)
        {
            int n = Math.Min(maxLength, stream.Count - at);
            if (n < 2) break;
            var ids = stream.GetRange(at, n).ToArray();
            chunks.Add(new TokenizedExample(ids, (int[])ids.Clone()));
        }
        return chunks;
    }
}

/// <summary>An in-memory checkpoint with random weights for a config (HF _init_weights; seeded, deterministic).</summary>
public sealed class RandomCheckpoint : ICheckpoint
{
    readonly Dictionary<string, float[]> _data = new(StringComparer.Ordinal);
    readonly List<TensorInfo> _infos = [];

    RandomCheckpoint(ModelConfig config) { Config = config; }

    public static RandomCheckpoint Create(ModelConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        config = config.WithDefaults();
        config.Validate("model config");
        var c = new RandomCheckpoint(config);
        var rng = new Random(seed);
        float std = (float)config.InitializerRange;
        foreach (var spec in TensorNames.Expected(config))
        {
            var data = new float[spec.ElementCount];
            if (spec.Shape.Length == 1 && spec.Name.EndsWith("norm.weight", StringComparison.Ordinal)) Array.Fill(data, 1f);
            else if (!spec.Name.EndsWith(".bias", StringComparison.Ordinal))
                for (int i = 0; i < data.Length; i += 2)
                {
                    // Box-Muller: two normal samples from two uniforms.
                    double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                    double r = Math.Sqrt(-2 * Math.Log(u1)), a = 2 * Math.PI * u2;
                    data[i] = (float)(r * Math.Cos(a)) * std;
                    if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(a)) * std;
                }
            c._data[spec.Name] = data;
            c._infos.Add(new TensorInfo(spec.Name, TensorDType.F32, (int[])spec.Shape.Clone(), "(random)", 0, data.LongLength * 4));
        }
        return c;
    }

    public ModelConfig Config { get; }
    public string SourcePath => "(random weights)";
    public string FormatName => "random";
    public IReadOnlyList<TensorInfo> Tensors => _infos;
    public bool Contains(string name) => _data.ContainsKey(name);
    public TensorInfo GetInfo(string name) => _infos.Find(t => t.Name == name) ?? throw new KeyNotFoundException($"random checkpoint has no tensor '{name}'");
    public ReadOnlySpan<float> GetFloat32(string name) => _data.TryGetValue(name, out var d) ? d : throw new KeyNotFoundException($"random checkpoint has no tensor '{name}'");
    public void Dispose() { }
}
