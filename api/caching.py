"""No cache keeps a copy of the API's answers (issue 15): they carry patient data (scores,
answers, alerts, visits, exports), tokens or enrolment codes, so a shared proxy, the
browser's disk cache or the phone's HTTP cache must not store them. Every response under
/api/ that did not say otherwise gets `Cache-Control: no-store` (and `Pragma: no-cache` for
HTTP/1.0 caches)."""

API_PREFIX = "/api/"


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response
