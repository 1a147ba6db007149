// Supervised fine-tuning (TRL SFTTrainer): LoRA (PEFT) or full fine-tuning of a LLaMA checkpoint on instruction or
// chat data, built from SftOptions: model, tokenizer, formatter, dataset, split (or a separate eval_data file, TRL's
// eval_dataset) and batchers.
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Peft.Lora;
using Loft.Tensors.Threading;
using Loft.Tokenizers;
using Loft.Tokenizers.ChatTemplates;
using Loft.Training.Data;

namespace Loft.Training.Sft;

public sealed class SftTrainer : TrainerBase
{
    readonly string? _tokenizerFolder;

    SftTrainer(TrainableLlama model, SftOptions options, SftBatcher train, SftBatcher? eval, SftDataset dataset, SftDataset? evalDataset,
        string? tokenizerFolder)
        : base(model, options, train, eval)
    {
        Dataset = dataset;
        EvalDataset = evalDataset;
        _tokenizerFolder = tokenizerFolder;
    }

    /// <summary>The tokenized training dataset (and its held-out split when no eval_data is given).</summary>
    public SftDataset Dataset { get; }

    /// <summary>The tokenized eval_data file (all of it in <see cref="SftDataset.Train"/>: no split is taken), or null.</summary>
    public SftDataset? EvalDataset { get; }

    /// <summary>The examples <see cref="TrainerBase.Evaluate"/> scores: the eval_data file's, or the held-out split.</summary>
    public IReadOnlyList<TokenizedExample> EvalExamples => EvalDataset?.Train ?? Dataset.Eval;

    protected override string? TokenizerFolder => _tokenizerFolder;

    /// <summary>
    /// Loads the model (options.Model), its tokenizer (options.Tokenizer or the model's folder), the dataset
    /// (options.Data; options.EvalData, when given, read by the same rules and used instead of a split) and the adapter: a fresh seeded one, options.InitAdapter (validated against the base: a
    /// mismatch names the tensor and both shapes), or none with options.Full. options.ResumeFromCheckpoint is applied
    /// when <see cref="TrainerBase.Train"/> starts.
    /// </summary>
    public static SftTrainer Create(SftOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (string.IsNullOrEmpty(options.Model)) throw new ArgumentException("model: the base model path is required");
        if (string.IsNullOrEmpty(options.Data)) throw new ArgumentException("data: the dataset path is required");
        if (string.IsNullOrEmpty(options.Output)) throw new ArgumentException("output: the output folder is required");
        if (options.Threads > 0) WorkerPool.SetThreadCount(options.Threads);
        using var checkpoint = CheckpointLoader.Open(options.Model);
        var tokFolder = ModelFolder(options.Model);
        var tokenizer = TokenizerLoader.Load(options.Tokenizer ?? tokFolder, checkpoint.Config.VocabSize);
        var dataOptions = options.ToDataOptions();
        ChatTemplateConfig? chat = null;
        if (dataOptions.Template == SftDataOptions.ModelTemplate)
        {
            var cfg = Path.Combine(options.Tokenizer is { } t && Directory.Exists(t) ? t : tokFolder, "tokenizer_config.json");
            chat = ChatTemplateConfig.Load(cfg);
        }
        var formatter = new SftFormatter(tokenizer, dataOptions, chat);
        var dataset = SftDataset.Load(options.Data, formatter);
        // dataOptions has no split when EvalData is set, so the eval file's examples all land in its Train list.
        var evalDataset = options.EvalData is { } evalPath ? LoadEvalData(evalPath, p => SftDataset.Load(p, formatter)) : null;
        var evalExamples = evalDataset?.Train ?? dataset.Eval;
        var model = CreateModel(checkpoint, options);
        int pad = tokenizer.PadId ?? 0;
        var train = new SftBatcher(dataset.Train, dataOptions, pad);
        var eval = evalExamples.Count > 0 ? new SftBatcher(evalExamples, dataOptions, pad) : null;
        return new SftTrainer(model, options, train, eval, dataset, evalDataset, options.Tokenizer is { } tf && Directory.Exists(tf) ? tf : tokFolder);
    }

    /// <summary>The trainable model the options ask for, on an open checkpoint (the weights are copied).</summary>
    public static TrainableLlama CreateModel(ICheckpoint checkpoint, SftOptions options)
    {
        var modelOptions = new TrainableLlamaOptions { GradientCheckpointing = options.GradientCheckpointing, DropoutSeed = options.Seed };
        if (options.Full) return TrainableLlama.CreateFull(checkpoint, modelOptions);
        if (options.InitAdapter is { } dir)
        {
            var adapter = LoraAdapterFile.Load(dir);
            adapter.ValidateAgainst(checkpoint, dir);
            return TrainableLlama.CreateLora(checkpoint, adapter, modelOptions);
        }
        return TrainableLlama.CreateLora(checkpoint, options.ToLoraOptions(), options.Seed, modelOptions);
    }

    /// <summary>The folder of a model path (the path itself for a folder).</summary>
    internal static string ModelFolder(string modelPath) =>
        Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
}
