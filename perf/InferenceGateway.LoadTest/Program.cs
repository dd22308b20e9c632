using InferenceGateway.LoadTest.Cli;

// Ctrl+C ends the current step early; results measured so far are still reported.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

return await LoadTool.RunAsync(args, Console.Out, Console.Error, cancel.Token);
