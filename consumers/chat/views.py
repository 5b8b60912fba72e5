from django.shortcuts import render

CONSUMERS = ("async", "sync")


def index(request):
    return render(request, "chat/index.html", {"consumers": CONSUMERS})


def room(request, room_name):
    # ?consumer=sync picks the tutorial part 2 consumer; async (part 3) is the default.
    consumer = request.GET.get("consumer", "async")
    if consumer not in CONSUMERS:
        consumer = "async"
    return render(
        request,
        "chat/room.html",
        {"room_name": room_name, "consumer": consumer, "consumers": CONSUMERS},
    )
