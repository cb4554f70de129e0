"""The service under the repo's own gunicorn settings, as `make run` starts it.

gunicorn.conf.py runs code in every worker (post_fork, post_worker_init, pre_request,
post_request: imageservice/memory.py and the warm-ups); an error there would not fail a
request, only show in the log, so the log is read too.
"""

import io

import requests

from tests.factories import image_bytes
from tests.service import Gunicorn


def test_the_service_serves_under_its_gunicorn_settings_without_errors_in_the_hooks(tmp_path):
    with Gunicorn(tmp_path) as server:
        photo = image_bytes("JPEG", (1200, 900))
        created = []
        for _ in range(4):  # on either worker
            answer = requests.post(
                f"{server.base}/api/v1/images/upload",
                files={"file": ("plate.jpg", io.BytesIO(photo), "image/jpeg")},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            created.append(answer.json()["id"])
        fetched = requests.get(f"{server.base}/api/v1/images/{created[0]}", timeout=10)
        assert fetched.json()["width"] == 1200

    output = server.log()
    assert "Booting worker" in output
    assert "Traceback" not in output
    assert "Exception in" not in output  # gunicorn's words for a hook that raised
