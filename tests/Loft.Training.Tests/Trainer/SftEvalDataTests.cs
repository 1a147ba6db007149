// eval_data (TRL SFTTrainer eval_dataset) and eval_on_start (TrainingArguments) on stories260K: the eval file replaces
// the split, its loss equals a direct per-example ComputeLoss, step-0 metrics, the eval file's errors and the YAML keys.
using System.Text.Json;
using Loft.Autograd.Llama;
using Loft.Tokenizers;
using Loft.Training.Data;
using Loft.Training.Sft;

namespace Loft.Training.Tests.Trainer;

public sealed class SftEvalDataTests : IDisposable
{
    const string Model = SftTrainerTests.Model;
    readonly string _dir = Directory.CreateTempSubdirectory("loft-evald-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static readonly string[] Names = ["Lily", "Tom", "Ben", "Sue", "Max"];

    string WriteAlpaca(string name, int count, string question)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, Enumerable.Range(0, count).Select(i => JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["instruction"] = question, ["input"] = $"{Names[i % Names.Length]} is a friend.", ["output"] = Names[(i + 2) % Names.Length],
        })));
        return path;
    }

    SftOptions Options(string? evalData, string output = "run") => new()
    {
        Model = SharedData.Require(Model), Data = WriteAlpaca("train.jsonl", 20, "Say the name."), EvalData = evalData,
        Output = Path.Combine(_dir, output), TargetModules = ["q_proj", "v_proj"], LearningRate = 1e-2, BatchSize = 4,
        MaxLength = 256, EvalSplit = 0.1, SaveSteps = 0, Threads = 1, MaxSteps = 2,
    };

    static List<JsonElement> Metrics(string output) =>
        File.ReadAllLines(Path.Combine(output, TrainerBase.MetricsFileName)).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [SharedFact(Model)]
    public void EvalFileReplacesTheSplitAndItsLossIsTheDirectLoss()
    {
        var evalPath = WriteAlpaca("eval.jsonl", 7, "Who is it?");
        var o = Options(evalPath);
        var trainer = SftTrainer.Create(o);
        Assert.Equal(20, trainer.Dataset.Train.Count);   // eval_split 0.1 is not applied: nothing held out of the training file
        Assert.Empty(trainer.Dataset.Eval);
        Assert.NotNull(trainer.EvalDataset);
        Assert.Equal(7, trainer.EvalExamples.Count);

        // Reference: the eval file tokenized on its own, each example scored alone (B = 1, no padding), token-weighted.
        var tokenizer = TokenizerLoader.Load(Path.GetDirectoryName(o.Model)!, trainer.Model.Config.VocabSize);
        var reference = SftDataset.Load(evalPath, new SftFormatter(tokenizer, o.ToDataOptions())).Train;
        Assert.Equal(7, reference.Count);
        double sum = 0;
        long count = 0;
        for (int i = 0; i < reference.Count; i++)
        {
            var e = reference[i];
            Assert.Equal(e.InputIds, trainer.EvalExamples[i].InputIds);
            var batch = new CausalLmBatch(1, e.Length, e.InputIds, Enumerable.Repeat(1, e.Length).ToArray(), e.Labels);
            sum += trainer.Model.ComputeLoss(batch) * batch.TargetCount;
            count += batch.TargetCount;
        }
        var eval = trainer.Evaluate();
        Assert.Equal(count, eval.TargetTokens);
        Assert.Equal(sum / count, eval.Loss, 5);
        Assert.Equal(Math.Exp(eval.Loss), eval.Perplexity, 9);

        var result = trainer.Train();
        Assert.Null(result.InitialEval);
        Assert.Equal(2, result.LastEval!.Step);
        Assert.Equal(count, result.LastEval.TargetTokens);
        Assert.NotEqual(eval.Loss, result.LastEval.Loss);
    }

    [SharedFact(Model)]
    public void EvalOnStartLogsStepZeroBeforeTraining()
    {
        var o = Options(WriteAlpaca("eval.jsonl", 6, "Who is it?")) with { EvalOnStart = true };
        var before = SftTrainer.Create(o with { Output = Path.Combine(_dir, "ref") }).Evaluate();
        var trainer = SftTrainer.Create(o);
        var seen = new List<EvalResult>();
        var order = new List<string>();
        trainer.Evaluated = e => { seen.Add(e); order.Add($"eval {e.Step}"); };
        trainer.Progress = p => order.Add($"step {p.Step}");
        var result = trainer.Train();

        Assert.Equal(["eval 0", "step 1", "step 2", "eval 2"], order);
        Assert.NotNull(result.InitialEval);
        Assert.Equal(0, result.InitialEval!.Step);
        Assert.Equal(before.Loss, result.InitialEval.Loss, 12);
        Assert.Same(seen[^1], result.LastEval);
        var metrics = Metrics(o.Output!);
        var first = metrics[0];
        Assert.Equal(0, first.GetProperty("step").GetInt32());
        Assert.Equal(before.Loss, first.GetProperty("eval_loss").GetDouble(), 12);
        Assert.Equal(before.Perplexity, first.GetProperty("eval_perplexity").GetDouble(), 9);
        Assert.Equal(before.TargetTokens, first.GetProperty("eval_tokens").GetInt64());
        Assert.False(first.TryGetProperty("loss", out _));
        Assert.Equal([0, 2], metrics.Where(m => m.TryGetProperty("eval_loss", out _)).Select(m => m.GetProperty("step").GetInt32()));
    }

    [SharedFact(Model)]
    public void EvalOnStartWithTheSplitAndWithout()
    {
        var o = Options(null) with { EvalOnStart = true };
        var result = SftTrainer.Create(o).Train();
        Assert.Equal(0, result.InitialEval!.Step);
        Assert.Equal(2, Metrics(o.Output!).Count(m => m.TryGetProperty("eval_loss", out _)));

        var e = Assert.Throws<ArgumentException>(() => SftTrainer.Create(o with { EvalSplit = 0, Output = Path.Combine(_dir, "none") }));
        Assert.Equal("eval_on_start: there is no held-out set to evaluate (eval_split is 0 and no eval_data is given)", e.Message);
    }

    [SharedFact(Model)]
    public void EvalFileErrorsNameTheFile()
    {
        var missing = Path.Combine(_dir, "nope.jsonl");
        var nf = Assert.Throws<FileNotFoundException>(() => SftTrainer.Create(Options(missing)));
        Assert.Equal($"eval_data: eval dataset file not found: {missing}", nf.Message);

        var empty = Path.Combine(_dir, "empty.jsonl");
        File.WriteAllText(empty, "\n\n");
        var em = Assert.Throws<DatasetFormatException>(() => SftTrainer.Create(Options(empty)));   // the reader's error, as for --data
        Assert.Equal($"{empty}: no records (the file is empty)", em.Message);

        var emptyArray = Path.Combine(_dir, "empty.json");
        File.WriteAllText(emptyArray, "[]");
        var ea = Assert.Throws<DatasetFormatException>(() => SftTrainer.Create(Options(emptyArray)));
        Assert.Equal($"{emptyArray}: no records (the JSON array is empty)", ea.Message);

        var broken = Path.Combine(_dir, "broken.jsonl");
        File.WriteAllLines(broken, [File.ReadAllLines(WriteAlpaca("ok.jsonl", 1, "Who?"))[0], "{\"instruction\": \"Who?\", \"output\": 7}"]);
        var bad = Assert.Throws<DatasetFormatException>(() => SftTrainer.Create(Options(broken)));
        Assert.Equal(broken, bad.File);
        Assert.Equal(2, bad.Line);
        Assert.StartsWith($"{broken}:2: ", bad.Message);

        // Every eval example longer than max_length (dropped): the training reader's message, marked eval_data.
        var longEval = WriteAlpaca("long.jsonl", 2, string.Join(' ', Enumerable.Repeat("Say the name of the friend.", 40)));
        var o = Options(longEval);
        var tooLong = Assert.Throws<InvalidDataException>(() => SftTrainer.Create(o));
        Assert.StartsWith($"eval_data: {longEval}: ", tooLong.Message);

        var blank = Assert.Throws<ArgumentException>(() => SftTrainer.Create(Options(" ")));
        Assert.Equal("eval_data =  : must be a dataset file path", blank.Message);
    }

    [Theory]
    [InlineData("eval_data")]
    [InlineData("eval_dataset")]
    [InlineData("eval-data")]
    public void YamlKeysSetEvalDataAndEvalOnStart(string key)
    {
        var yaml = Path.Combine(_dir, "c.yaml");
        File.WriteAllText(yaml, $"{key}: data/eval.jsonl\neval_on_start: true\nval_size: 0.2\n");
        var o = SftOptions.FromSettings(SftOptions.ReadYaml(yaml), yaml);
        Assert.Equal("data/eval.jsonl", o.EvalData);
        Assert.True(o.EvalOnStart);
        Assert.Equal(0.2, o.EvalSplit);
        Assert.Equal(0, o.ToDataOptions().EvalFraction);                       // the eval file replaces the split
        Assert.Equal(0.2, (o with { EvalData = null }).ToDataOptions().EvalFraction);
        Assert.False(new SftOptions().EvalOnStart);                           // transformers' default
        Assert.Contains("eval-on-start", SftOptions.BooleanKeys);
        var e = Assert.Throws<ArgumentException>(() => SftOptions.FromSettings([new("eval_on_start", "maybe")], "x.yaml"));
        Assert.Equal("x.yaml: eval_on_start = 'maybe' is not a boolean (true/false)", e.Message);
    }

    [SharedFact(Model)]
    public void PretrainEvaluatesAPlainTextEvalFile()
    {
        var text = Path.Combine(_dir, "t.txt");
        File.WriteAllText(text, string.Join("\n\n", Enumerable.Repeat("Once upon a time there was a little girl named Lily.", 12)));
        var evalText = Path.Combine(_dir, "e.txt");
        File.WriteAllText(evalText, "Tom had a red ball. He liked to play with it in the park.");
        var o = new SftOptions
        {
            Model = SharedData.Require(Model), Data = text, EvalData = evalText, EvalOnStart = true, Output = Path.Combine(_dir, "pt"),
            MaxLength = 32, MaxSteps = 1, BatchSize = 2, SaveSteps = 0, Threads = 1,
        };
        var trainer = PretrainTrainer.Create(o);
        var tokenizer = TokenizerLoader.Load(Path.GetDirectoryName(o.Model)!, trainer.Model.Config.VocabSize);
        var chunks = PretrainTrainer.Chunk(Dataset.ReadText(evalText), tokenizer, 32, evalText);
        var result = trainer.Train();
        Assert.Equal(chunks.Sum(c => (long)c.Length - 1), result.InitialEval!.TargetTokens);
        Assert.Equal(result.InitialEval.TargetTokens, result.LastEval!.TargetTokens);

        File.WriteAllText(evalText, "\n\n");
        var e = Assert.Throws<DatasetFormatException>(() => PretrainTrainer.Create(o));
        Assert.Equal($"{evalText}: no records (the file is empty)", e.Message);
    }
}
