using System.Text.Json;
using InferenceGateway.Core.Models;
using InferenceGateway.Server.Transport;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace InferenceGateway.Server.Hosting;

/// <summary>Builds and runs the gateway process: configuration, listeners, services, admin endpoints.</summary>
public static partial class GatewayHost
{
    /// <summary>Entry point: runs until SIGTERM/Ctrl+C; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        // Command verbs: offline tools that share the gateway's code.
        switch (args.Length > 0 ? args[0] : "")
        {
            case "backfill":
                return Cli.BackfillCommand.Run(args[1..], Console.Out, Console.Error);
            case "replay":
                return await Cli.ReplayCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
            case "evaluate":
                return await Cli.EvaluateCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
            case "import-outcomes":
                return await Cli.ImportOutcomesCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
            case "mock-kafka":
                return await Cli.MockKafkaCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
        }

        var printConfig = Array.IndexOf(args, "--print-config") >= 0;
        var filtered = Array.FindAll(args, a => a != "--print-config");
        WebApplication app;
        try
        {
            app = Build(filtered);
        }
        catch (GatewayConfigurationException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 2;
        }

        if (printConfig)
        {
            var options = app.Services.GetRequiredService<GatewayOptions>();
            var token = options.Admin.Token;
            if (!string.IsNullOrEmpty(token))
            {
                options.Admin.Token = "(set, redacted)"; // The process exits right after; never print the secret.
            }

            Console.WriteLine(JsonSerializer.Serialize(new { Gateway = options }, PrintOptions));
            return 0;
        }

        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                // Kestrel could not bind a listener (port taken, address not local, no permission): a clear line and
                // an exit code, not an unhandled exception and a core dump.
                await Console.Error.WriteLineAsync($"inference-gateway: could not start listening: {ex.Message}").ConfigureAwait(false);
                return ListenFailedExitCode;
            }

            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Exit code when a listener cannot be bound (2 is invalid configuration).</summary>
    public const int ListenFailedExitCode = 3;

    private static readonly JsonSerializerOptions PrintOptions = new() { WriteIndented = true };

    /// <summary>Builds the application; throws <see cref="GatewayConfigurationException"/> listing every configuration error.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var options = new GatewayOptions();
        builder.Configuration.GetSection(GatewayOptions.SectionName).Bind(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new GatewayConfigurationException(errors);
        }

        options.ModelRepository.Path = ResolveRepositoryPath(options.ModelRepository.Path);
        options.Features.Path = ResolveRepositoryPath(options.Features.Path);
        InferenceGateway.Core.Features.FeatureRepository features;
        try
        {
            features = InferenceGateway.Core.Features.FeatureRepository.LoadDirectory(options.Features.Path);
        }
        catch (InferenceGateway.Core.Features.FeatureDefinitionException ex)
        {
            IEnumerable<string> problems = ex.Errors.Count > 0 ? ex.Errors : [ex.Message];
            throw new GatewayConfigurationException([.. problems.Select(error => $"Gateway:Features ({options.Features.Path}): {error}")]);
        }

        builder.Services.AddSingleton(features);
        builder.Services.AddSingleton(options);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownGracePeriod);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var address = options.ListenAddress switch
            {
                "*" => System.Net.IPAddress.Any,
                "localhost" => System.Net.IPAddress.Loopback,
                var text => System.Net.IPAddress.Parse(text),
            };
            kestrel.Listen(address, options.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (options.Tls.Enabled)
                {
                    listen.UseHttps(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.Tls.CertificatePath!, options.Tls.KeyPath));
                }
            });
            kestrel.Listen(address, options.AdminPort, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Limits.MaxRequestBodySize = options.Grpc.MaxReceiveMessageSize + (64 * 1024);

            // No "server: Kestrel" on the responses of either port: gRPC servers (grpc-go, grpc-core) send none,
            // clients do not use it, and it names the stack to anyone probing the port.
            kestrel.AddServerHeader = false;
        });

        UseConfiguredConsoleFormatter(builder);
        SuppressPerRequestHostingDiagnostics(builder);
        GatewayServices.Add(builder.Services, options, builder.Configuration);
        var app = builder.Build();

        // Admission first, before routing and before Grpc.AspNetCore reads a byte of the request.
        app.UseGatewayGrpcAdmission();
        app.UseRouting();
        app.UseGatewayGrpcCalls();
        GatewayServices.Map(app, options);
        return app;
    }

    /// <summary>
    /// <c>Logging:Console:FormatterName</c> (<c>json</c>, <c>systemd</c>, <c>simple</c>) chooses the console format. The
    /// slim builder adds its console logger with the simple formatter set in code, which runs after the configuration is
    /// bound and so overrode it: <c>json</c> printed simple text. Binding the section again, later, lets it win.
    /// </summary>
    internal static void UseConfiguredConsoleFormatter(WebApplicationBuilder builder)
    {
        var console = builder.Configuration.GetSection("Logging:Console");
        if (console["FormatterName"] is { Length: > 0 })
        {
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(console);
        }
    }

    internal const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>
    /// ASP.NET Core's hosting layer starts an <see cref="System.Diagnostics.Activity"/> and a logging scope for every
    /// request as soon as its log category is enabled at any level, although it only logs requests at Information and
    /// Debug. Unless the configuration asks for those request logs, the category is switched off so calls skip that work.
    /// </summary>
    internal static void SuppressPerRequestHostingDiagnostics(WebApplicationBuilder builder)
    {
        if (ConfiguredLevel(builder.Configuration, HostingDiagnosticsCategory) > LogLevel.Information)
        {
            builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);
        }
    }

    /// <summary>
    /// The level <c>Logging:LogLevel</c> gives a category: the longest matching category prefix, else <c>Default</c>,
    /// else Information (the logging default). Provider-specific sections override this as usual.
    /// </summary>
    internal static LogLevel ConfiguredLevel(IConfiguration configuration, string category)
    {
        string? best = null;
        var bestLength = -1;
        foreach (var entry in configuration.GetSection("Logging:LogLevel").GetChildren())
        {
            var key = entry.Key;
            var matches = string.Equals(key, "Default", StringComparison.OrdinalIgnoreCase)
                ? bestLength < 0
                : key.Length > bestLength
                    && category.StartsWith(key, StringComparison.OrdinalIgnoreCase)
                    && (category.Length == key.Length || category[key.Length] == '.');
            if (matches && entry.Value is { } value)
            {
                best = value;
                bestLength = string.Equals(key, "Default", StringComparison.OrdinalIgnoreCase) ? 0 : key.Length;
            }
        }

        return best is not null && Enum.TryParse<LogLevel>(best, ignoreCase: true, out var level) ? level : LogLevel.Information;
    }

    /// <summary>A relative repository path is looked up from the working directory, then from the source tree.</summary>
    internal static string ResolveRepositoryPath(string path)
    {
        if (Path.IsPathRooted(path) || Directory.Exists(path))
        {
            return Path.GetFullPath(path);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return Path.Combine(dir.FullName, path);
            }
        }

        return Path.GetFullPath(path);
    }
}

/// <summary>Configuration that failed validation; the message lists every error.</summary>
public sealed class GatewayConfigurationException : Exception
{
    /// <summary>Creates the exception from the list of errors.</summary>
    public GatewayConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid configuration:" + Environment.NewLine + "  - " + string.Join(Environment.NewLine + "  - ", errors))
    {
        Errors = errors;
    }

    /// <summary>Every error found.</summary>
    public IReadOnlyList<string> Errors { get; }
}
