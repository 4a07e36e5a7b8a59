// Starts the vendored Swagger UI on the API's own OpenAPI document (no remote validator).
window.addEventListener("load", function () {
  window.SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#api-reference",
    validatorUrl: null,
    deepLinking: true,
    persistAuthorization: false,
  });
});
