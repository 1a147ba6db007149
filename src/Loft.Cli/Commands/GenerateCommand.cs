// `loft generate`: loads a model (HF folder or llama2.c .bin) and its tokenizer, generates with Loft's Generator
// and streams the continuation to stdout (statistics to stderr). Options mirror HF GenerationConfig / llama2.c run.
using System.Globalization;
using System.Text.Json;
using Loft.Formats;
using Loft.Hub;
using Loft.Models.Inference.Generation;
using Loft.Models.Llama;
using Loft.Peft.Inference;
using Loft.Peft.Lora;
using Loft.Tensors.Threading;
using Loft.Tokenizers;

namespace Loft.Cli.Commands;

public sealed class GenerateCommand : ICommand
{
    /// <summary>The CLI's --max-new-tokens default (HF's GenerationConfig default is 20, too short for a demo).</summary>
    public const int DefaultMaxNewTokens = 256;

    public string Name => "generate";
    public string Summary => "generate text from a prompt (greedy, sampling or beam search)";
    public IReadOnlyCollection<string> Flags => ["early-stopping", "ignore-eos", "print-ids"];

    public string Usage => $"""
        loft generate --model PATH [--prompt TEXT | --prompt-ids "1 2 3"] [options]

        Streams the generated continuation (not the prompt) to stdout; token counts and tokens/s go to stderr.

          --model PATH              HF model folder (config.json + safetensors), llama2.c checkpoint (.bin),
                                    or a Hub id org/name[@revision] (downloaded into the Hub cache)
          --tokenizer FILE          tokenizer.model / tokenizer.json / llama2.c tokenizer.bin; default: the folder's
                                    tokenizer, or for a .bin: tokenizer.model, tok512.model, tok*.model,
                                    tokenizer.bin, tok*.bin beside it
          --prompt TEXT             text prompt; BOS is prepended (as llama2.c and HF LlamaTokenizer do)
          --prompt-ids "1 2 3"      prompt as token ids, used as given (no BOS); with --print-ids no tokenizer is needed
                                    (neither prompt option: generate from BOS alone)
          --max-new-tokens N        tokens to generate (default {DefaultMaxNewTokens}; HF's default is 20)
          --temperature T           0 = greedy. Sampling is on when the effective temperature is > 0; the effective
                                    temperature is --temperature if given, else 1.0 if any of --top-k/--top-p/--min-p
                                    is given, else 0 (greedy)
          --top-k K                 keep the K most likely tokens when sampling (default 50 as in HF; 0 = off)
          --top-p P                 nucleus sampling mass (default 1.0 = off)
          --min-p P                 drop tokens below P x the top probability (default off)
          --repetition-penalty R    HF repetition penalty over prompt and output (default 1.0 = off)
          --frequency-penalty F     OpenAI frequency penalty (default 0)
          --presence-penalty P      OpenAI presence penalty (default 0)
          --seed S                  sampling seed (default: random, printed to stderr)
          --num-beams B             beam search with B beams (default 1 = off); the best beam is printed at the end
          --length-penalty L        beam score = sum logprobs / generated_len^L (default 1.0)
          --early-stopping          beam search stops once B hypotheses are finished (HF early_stopping=True)
          --stop STR                stop when STR appears in the output (repeatable; the output keeps it, as HF does)
          --ignore-eos              do not stop at EOS: generate exactly --max-new-tokens
          --print-ids               print the generated ids (space-separated) instead of text
          --threads N               worker threads for the kernels (default: all cores)
          --adapter DIR             apply a PEFT LoRA adapter folder to the model (unmerged)
        """;

    public int Run(CliArgs args)
    {
        string modelPath = args.Require("model");
        string? tokenizerPath = args.Get("tokenizer");
        string? promptText = args.Get("prompt");
        string? promptIdsText = args.Get("prompt-ids");
        int maxNew = args.GetInt("max-new-tokens", DefaultMaxNewTokens);
        float? temperature = args.GetFloatOrNull("temperature");
        int? topK = args.GetIntOrNull("top-k");
        float? topP = args.GetFloatOrNull("top-p");
        float? minP = args.GetFloatOrNull("min-p");
        float repetition = args.GetFloat("repetition-penalty", 1f);
        float frequency = args.GetFloat("frequency-penalty", 0f);
        float presence = args.GetFloat("presence-penalty", 0f);
        long? seed = args.Get("seed") is { } seedText
            ? long.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sv) ? sv : throw new CliException($"generate: --seed expects an integer, got '{seedText}'")
            : null;
        int numBeams = args.GetInt("num-beams", 1);
        float lengthPenalty = args.GetFloat("length-penalty", 1f);
        bool earlyStopping = args.Flag("early-stopping");
        var stops = args.GetAll("stop");
        int? threads = args.GetIntOrNull("threads");
        bool ignoreEos = args.Flag("ignore-eos");
        bool printIds = args.Flag("print-ids");
        string? adapterDir = args.Get("adapter");
        args.EnsureAllUsed();

        if (promptText != null && promptIdsText != null)
            throw new CliException("generate: give either --prompt or --prompt-ids, not both");
        if (threads is < 1) throw new CliException($"generate: --threads must be at least 1, got {threads}");
        if (temperature is < 0) throw new CliException($"generate: --temperature must be >= 0, got {temperature}");
        float effectiveTemperature = temperature ?? (topK != null || topP != null || minP != null ? 1f : 0f);
        bool sample = effectiveTemperature > 0;
        if (sample) seed ??= Random.Shared.NextInt64(0, int.MaxValue);

        if (threads is { } t) WorkerPool.SetThreadCount(t);
        // A local folder/file as is; otherwise an "org/name[@revision]" Hub id, downloaded into the Hub cache.
        modelPath = ModelLocator.Resolve(modelPath);
        if (adapterDir != null && !Directory.Exists(adapterDir)) throw new CliException($"generate: adapter folder not found: {adapterDir}");
        using var model = adapterDir == null ? LlamaModel.Load(modelPath) : LoadWithAdapter(modelPath, adapterDir);

        bool needTokenizer = !printIds || promptIdsText == null || stops.Count > 0;
        var tokenizer = LoadTokenizer(modelPath, tokenizerPath, model.VocabSize, required: needTokenizer);

        int[] prompt;
        if (promptIdsText != null) prompt = ParseIds(promptIdsText);
        else if (promptText != null) prompt = tokenizer!.Encode(promptText, addBos: tokenizer.BosId != null);
        else
        {
            int bos = tokenizer?.BosId ?? model.Config.BosTokenId?.Ids.FirstOrDefault()
                ?? throw new CliException("generate: no prompt given and neither the tokenizer nor the model config names a BOS id; pass --prompt or --prompt-ids");
            prompt = [bos];
        }

        var options = new GenerationOptions
        {
            MaxNewTokens = maxNew,
            DoSample = sample,
            Temperature = sample ? effectiveTemperature : 1f,
            TopK = topK ?? 50,
            TopP = topP ?? 1f,
            MinP = minP,
            RepetitionPenalty = repetition,
            FrequencyPenalty = frequency,
            PresencePenalty = presence,
            Seed = seed,
            NumBeams = numBeams,
            LengthPenalty = lengthPenalty,
            EarlyStopping = earlyStopping ? EarlyStoppingMode.Early : EarlyStoppingMode.Heuristic,
            EosTokenIds = EosIds(modelPath, model, tokenizer),
            StopStrings = stops.Count > 0 ? stops.ToArray() : null,
            IgnoreEos = ignoreEos,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliException($"generate: {e.Message}");
        }

        var generator = new Generator(model, tokenizer);
        var stdout = Console.Out;
        var result = generator.Generate(prompt, options, printIds ? null : chunk =>
        {
            if (chunk.Text.Length > 0)
            {
                stdout.Write(chunk.Text);
                stdout.Flush();
            }
        });
        stdout.WriteLine(printIds ? string.Join(' ', result.Ids) : "");
        stdout.Flush();

        var err = Console.Error;
        err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prompt: {result.PromptTokens} tokens, {result.PrefillSeconds * 1000:F1} ms ({result.PrefillTokensPerSecond:F1} tokens/s)"));
        string extra = (sample ? string.Create(CultureInfo.InvariantCulture, $", seed {seed}") : "")
            + (result.BeamScore is { } score ? string.Create(CultureInfo.InvariantCulture, $", beam score {score:F4}") : "");
        err.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"generated: {result.GeneratedTokens} tokens (finish: {result.FinishReason.ToString().ToLowerInvariant()}), decode {result.DecodeSteps} steps in {result.DecodeSeconds * 1000:F1} ms ({result.DecodeTokensPerSecond:F1} tokens/s){extra}"));
        return 0;
    }

    // The base with the adapter unmerged: LoRA pairs wrap the projections; modules_to_save copies (lm_head,
    // embed_tokens, ...) replace their tensors, as PEFT's forward and `loft merge` use them.
    static LlamaModel LoadWithAdapter(string modelPath, string adapterDir)
    {
        var checkpoint = CheckpointLoader.Open(modelPath);
        LlamaModel? model = null;
        try
        {
            var adapter = LoraAdapterFile.Load(adapterDir, checkpoint);
            model = adapter.SavedModules.Count == 0
                ? LlamaModel.FromCheckpoint(checkpoint, ownsCheckpoint: true)
                : LlamaModel.FromCheckpoint(new SavedModulesCheckpoint(checkpoint, adapter, ownsBase: true), ownsCheckpoint: true);
            LoraModelAdapter.Apply(model, adapter.WithoutSavedModules());
            return model;
        }
        catch
        {
            if (model != null) model.Dispose();
            else checkpoint.Dispose();
            throw;
        }
    }

    static int[] ParseIds(string text)
    {
        var parts = text.Split([' ', ',', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new CliException("generate: --prompt-ids is empty; give at least one id, e.g. \"1\"");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                throw new CliException($"generate: --prompt-ids expects space-separated integers, got '{parts[i]}'");
        return ids;
    }

    /// <summary>
    /// --tokenizer, else the model folder's tokenizer, else one beside a .bin checkpoint (tokenizer.model,
    /// tok512.model, tok*.model, tokenizer.bin, tok*.bin). Null when none is found and none is required.
    /// </summary>
    internal static ITokenizer? LoadTokenizer(string modelPath, string? tokenizerPath, int vocabSize, bool required)
    {
        if (tokenizerPath != null)
        {
            if (!File.Exists(tokenizerPath) && !Directory.Exists(tokenizerPath))
                throw new CliException($"generate: tokenizer not found: {tokenizerPath}");
            return TokenizerLoader.Load(tokenizerPath, vocabSize);
        }
        string? found = FindTokenizer(modelPath);
        if (found != null) return TokenizerLoader.Load(found, vocabSize);
        if (required)
            throw new CliException($"generate: no tokenizer found for {modelPath}; pass --tokenizer FILE (tokenizer.model, tokenizer.json or a llama2.c tokenizer.bin)" +
                " (only --print-ids with --prompt-ids works without one)");
        return null;
    }

    internal static string? FindTokenizer(string modelPath)
    {
        if (Directory.Exists(modelPath))
            return TokenizerLoader.FolderFileNames.Select(n => Path.Combine(modelPath, n)).FirstOrDefault(File.Exists);
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var self = Path.GetFullPath(modelPath);
        IEnumerable<string> Matches(string pattern) =>
            Directory.EnumerateFiles(dir, pattern).Where(f => Path.GetFullPath(f) != self).Order(StringComparer.Ordinal);
        return new[] { "tokenizer.model", "tok512.model" }.Select(n => Path.Combine(dir, n)).Where(File.Exists)
            .Concat(Matches("tok*.model"))
            .Concat(new[] { Path.Combine(dir, "tokenizer.bin") }.Where(File.Exists))
            .Concat(Matches("tok*.bin"))
            .FirstOrDefault();
    }

    /// <summary>EOS ids as HF picks them: generation_config.json, else config.json (the model config), else the tokenizer's.</summary>
    static IReadOnlyList<int>? EosIds(string modelPath, LlamaModel model, ITokenizer? tokenizer)
    {
        if (Directory.Exists(modelPath) && File.Exists(Path.Combine(modelPath, "generation_config.json")))
        {
            var path = Path.Combine(modelPath, "generation_config.json");
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.TryGetProperty("eos_token_id", out var e))
                {
                    if (e.ValueKind == JsonValueKind.Number) return [e.GetInt32()];
                    if (e.ValueKind == JsonValueKind.Array) return e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
                }
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}: eos_token_id is not an integer or a list of integers ({ex.Message})", ex);
            }
        }
        if (model.Config.EosTokenId is { } ids && ids.Ids.Count > 0) return ids.Ids;
        return tokenizer?.EosId is { } id ? [id] : null;
    }
}
