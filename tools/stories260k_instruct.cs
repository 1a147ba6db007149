// Generator and held-out evaluator for examples/stories260k-instruct: Alpaca records in the TinyStories style of
// stories260K's 512-token vocabulary (one fixed story shape that repeats the instruction's name, animal and object).
// Run: dotnet run tools/stories260k_instruct.cs -- generate examples/stories260k-instruct
//      dotnet run tools/stories260k_instruct.cs -- eval --model M.bin --tokenizer tok512.model --data eval.jsonl [--adapter DIR] [--samples N]
#:project ../src/Loft.Training/Loft.Training.csproj
#:property PublishAot=false
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Loft.Autograd.Llama;
using Loft.Formats;
using Loft.Models.Inference.Generation;
using Loft.Models.Llama;
using Loft.Peft.Inference;
using Loft.Peft.Lora;
using Loft.Tokenizers;
using Loft.Training.Data;
using Loft.Training.Sft;

if (args.Length == 0 || args[0] is not ("generate" or "eval"))
{
    Console.Error.WriteLine("usage: stories260k_instruct generate OUTDIR | eval --model M --tokenizer T --data FILE [--adapter DIR] [--samples N] [--max-new-tokens N]");
    return 2;
}
if (args[0] == "generate")
{
    if (args.Length != 2) { Console.Error.WriteLine("generate: expected OUTDIR"); return 2; }
    var (train, eval) = StoryInstructions.Build();
    Directory.CreateDirectory(args[1]);
    StoryInstructions.Write(Path.Combine(args[1], "train.jsonl"), train);
    StoryInstructions.Write(Path.Combine(args[1], "eval.jsonl"), eval);
    Console.WriteLine($"wrote {train.Count} training and {eval.Count} held-out records to {args[1]}");
    return 0;
}
var opts = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 1; i < args.Length; i += 2)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"eval: expected --name value pairs, got '{args[i]}'");
        return 2;
    }
    opts[args[i][2..]] = args[i + 1];
}
string Need(string k) => opts.TryGetValue(k, out var v) ? v : throw new ArgumentException($"eval: missing --{k}");
HeldOutEval.Run(Need("model"), Need("tokenizer"), Need("data"), opts.GetValueOrDefault("adapter"),
    int.Parse(opts.GetValueOrDefault("samples", "4"), CultureInfo.InvariantCulture),
    int.Parse(opts.GetValueOrDefault("max-new-tokens", "120"), CultureInfo.InvariantCulture));
return 0;

/// <summary>One Alpaca record of the set.</summary>
sealed record StoryRecord(string Instruction, string Input, string Output);

static class StoryInstructions
{
    // Names, animals and objects that tok512 encodes in one to three pieces (no byte fallback).
    static readonly string[] Boys = ["Tom", "Sam", "Ben", "Ted", "Sid", "Tim", "Bill", "Hank"];
    static readonly string[] Girls = ["Lily", "Lin", "Sally", "Tina", "Sara", "Sue", "Mia", "Kim"];
    static readonly string[] Animals = ["cat", "dog", "bird", "fish", "bear", "duck", "pig", "cow", "fox", "lion"];
    static readonly string[] Objects = ["ball", "hat", "car", "kite", "toy", "book", "box", "cup", "doll", "bell", "sock", "ring"];
    static readonly string[] Phrasings =
    [
        "Write a story about a {animal} named {name} and a {object}.",
        "Tell a story about a {animal} named {name} who has a {object}.",
        "Write a short story about {name} the {animal} and the {object}.",
    ];

    public const int TrainCount = 400;
    public const int EvalAnimalsPerPair = 3;
    const int Seed = 260;

    public static (List<StoryRecord> Train, List<StoryRecord> Eval) Build()
    {
        string[] names = [.. Boys, .. Girls];
        // Held-out name–object pairs: each name loses one object, (object - 5·name) mod 12 == 0, so every name and
        // every object still appears in training, but never in a held-out pairing.
        bool HeldOut(int n, int o) => ((o - 5 * n) % Objects.Length + Objects.Length) % Objects.Length == 0;
        var rng = new Random(Seed); // seeded System.Random: the same sequence on every .NET version
        var trainTriples = new List<(int N, int A, int O)>();
        var evalTriples = new List<(int N, int A, int O)>();
        for (int n = 0; n < names.Length; n++)
            for (int o = 0; o < Objects.Length; o++)
            {
                if (HeldOut(n, o))
                {
                    var animals = Enumerable.Range(0, Animals.Length).ToArray();
                    rng.Shuffle(animals);
                    foreach (int a in animals.Take(EvalAnimalsPerPair)) evalTriples.Add((n, a, o));
                }
                else
                    for (int a = 0; a < Animals.Length; a++) trainTriples.Add((n, a, o));
            }
        var order = trainTriples.ToArray();
        rng.Shuffle(order);
        var train = order.Take(TrainCount).Select((t, i) => Record(names, t, i % Phrasings.Length)).ToList();
        var eval = evalTriples.Select((t, i) => Record(names, t, i % Phrasings.Length)).ToList();
        return (train, eval);
    }

    static StoryRecord Record(string[] names, (int N, int A, int O) t, int phrasing)
    {
        string name = names[t.N], animal = Animals[t.A], obj = Objects[t.O];
        bool girl = t.N >= Boys.Length;
        string he = girl ? "She" : "He", his = girl ? "her" : "his";
        string instruction = Phrasings[phrasing].Replace("{animal}", animal).Replace("{name}", name).Replace("{object}", obj);
        string output =
            $"Once upon a time, there was a little {animal} named {name}. {name} had a {obj}. " +
            $"{he} loved {his} {obj} very much. One day, {name} could not find the {obj}. {name} was sad. " +
            $"{he} looked in the house and in the park. Then {name} saw the {obj} under the bed. " +
            $"{name} was happy again. The end.";
        return new StoryRecord(instruction, "", output);
    }

    public static void Write(string path, IEnumerable<StoryRecord> records)
    {
        var json = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using var w = new StreamWriter(path) { NewLine = "\n" };
        foreach (var r in records)
            w.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["instruction"] = r.Instruction, ["input"] = r.Input, ["output"] = r.Output,
            }, json));
    }
}

static class HeldOutEval
{
    /// <summary>Prints the trainer's held-out loss/perplexity on <paramref name="data"/> (base model, or with the
    /// adapter) and greedy generations for the first <paramref name="samples"/> instructions.</summary>
    public static void Run(string modelPath, string tokenizerPath, string data, string? adapterDir, int samples, int maxNew)
    {
        var clock = Stopwatch.StartNew();
        var tok = TokenizerLoader.Load(tokenizerPath);
        var dataOptions = new SftDataOptions { EvalFraction = 0 };
        var dataset = SftDataset.Load(data, new SftFormatter(tok, dataOptions));
        double loss;
        long targets;
        using (var checkpoint = CheckpointLoader.Open(modelPath))
        {
            var model = adapterDir != null
                ? TrainableLlama.CreateLora(checkpoint, LoraAdapterFile.Load(adapterDir))
                : TrainableLlama.CreateFull(checkpoint);
            var batcher = new SftBatcher(dataset.Train, dataOptions, tok.PadId ?? 0);
            var trainer = new EvalOnlyTrainer(model, new SftOptions { Output = Path.GetTempPath() }, batcher);
            var r = trainer.Evaluate();
            (loss, targets) = (r.Loss, r.TargetTokens);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(adapterDir == null ? "base" : "adapter " + adapterDir)}: held-out loss {loss:F4}, perplexity {Math.Exp(loss):F3} over {targets} response tokens of {dataset.Train.Count} records ({data})"));

        using var lm = LlamaModel.Load(modelPath);
        if (adapterDir != null) LoraModelAdapter.Apply(lm, LoraAdapterFile.Load(adapterDir, lm.Weights));
        var generator = new Generator(lm, tok);
        // EOS cannot be learned with LoRA alone here (see docs/stories260k-sft.md), so generation stops at "The end.".
        var gen = new GenerationOptions
        {
            MaxNewTokens = maxNew, DoSample = false, EosTokenIds = tok.EosId is int e ? [e] : null, StopStrings = ["The end."],
        };
        int n = 0, exact = 0, opening = 0;
        foreach (var record in Dataset.ReadAlpaca(data))
        {
            var prompt = tok.EncodeWithSpecialTokens(SftFormatter.FormatAlpacaPrompt(record.Instruction, record.Input));
            string text = tok.Decode(generator.Generate(prompt, gen).Ids).Trim();
            // The opening: the expected story's first two sentences (animal, name, object).
            int first = record.Output.IndexOf(". ", StringComparison.Ordinal);
            string expectedOpening = record.Output[..(record.Output.IndexOf(". ", first + 2, StringComparison.Ordinal) + 1)];
            if (text == record.Output) exact++;
            if (text.StartsWith(expectedOpening, StringComparison.Ordinal)) opening++;
            if (n++ < samples)
            {
                Console.WriteLine($"> {record.Instruction}");
                Console.WriteLine("  " + text.Replace("\n", "\\n"));
            }
        }
        Console.WriteLine($"greedy stories equal to the expected one: {exact}/{n}; with the expected opening (animal, name, object): {opening}/{n}");
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"({clock.Elapsed.TotalSeconds:F1} s)"));
    }

    sealed class EvalOnlyTrainer(TrainableLlama model, SftOptions options, SftBatcher eval) : TrainerBase(model, options, eval, eval);
}
