using InferenceGateway.Core.Models;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace InferenceGateway.Server.Experiments;

/// <summary>Registers experiments (router, store, shadow lanes, the prediction observer seam) and maps their admin API.</summary>
internal static class ExperimentServices
{
    /// <summary>The components every surface routes through; call before the executors are resolved.</summary>
    public static void Add(IServiceCollection services, GatewayOptions options)
    {
        var settings = options.Experiments;
        services.AddSingleton(settings);
        services.AddSingleton<ExperimentRouter>();
        services.AddSingleton<IModelCatalog>(provider => new ModelRepositoryCatalog(provider.GetRequiredService<ModelRepository>()));
        services.AddSingleton(provider => new ExperimentMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(provider => new ShadowDispatcher(
            settings.ToShadowOptions(),
            provider.GetRequiredService<ExperimentMetrics>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<ILogger<ShadowDispatcher>>()));

        services.AddSingleton<ShadowMirror>();
        services.AddSingleton(provider => new ExperimentStore(
            provider.GetRequiredService<ExperimentRouter>(),
            provider.GetRequiredService<IModelCatalog>(),
            settings.ResolvePath(options.DataDirectory),
            settings.ShadowTimeout,
            provider.GetRequiredService<ExperimentMetrics>(),
            provider.GetRequiredService<ILogger<ExperimentStore>>()));
    }

    /// <summary>
    /// The hosted service that loads the file and drains the shadow lanes; register it after the model lifecycle so
    /// that it stops before the versions are drained.
    /// </summary>
    public static void AddHosting(IServiceCollection services)
    {
        services.AddSingleton<ExperimentHosting>();
        services.AddHostedService(provider => provider.GetRequiredService<ExperimentHosting>());
        services.AddSingleton<IReadinessCheck>(provider => provider.GetRequiredService<ExperimentHosting>());
    }

    /// <summary><c>PUT</c>, <c>GET</c> and <c>DELETE /admin/experiments/{model}</c>, with the admin bearer token.</summary>
    public static void Map(WebApplication app, AdminSettings admin)
    {
        app.MapPut("/admin/experiments/{model}", (string model, HttpContext context, ExperimentStore store) =>
            AdminAuthorization.IsAuthorized(context, admin)
                ? store.PutAsync(model, context.Request.Body, context.RequestAborted)
                : Task.FromResult(AdminAuthorization.Deny(context, admin)));
        app.MapGet("/admin/experiments/{model}", (string model, HttpContext context, ExperimentStore store) =>
            AdminAuthorization.IsAuthorized(context, admin) ? store.Get(model) : AdminAuthorization.Deny(context, admin));
        app.MapDelete("/admin/experiments/{model}", (string model, HttpContext context, ExperimentStore store) =>
            AdminAuthorization.IsAuthorized(context, admin)
                ? store.DeleteAsync(model, context.RequestAborted)
                : Task.FromResult(AdminAuthorization.Deny(context, admin)));
    }
}
