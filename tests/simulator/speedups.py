"""Keep describes fast on large fleets (a describe of 1000 images took seconds).

- moto finds one resource's tags by scanning every tag of the Region with
  freshly compiled regexes, so serializing N tagged resources costs O(N^2).
  Reading the resource's own entry gives the same answer.
- moto's response serializer works out, for every attribute of every
  resource, which Python attribute names may hold it and whether a response
  transformer applies. Both depend only on the object's class, the shape and
  the key path, so they are computed once per response and reused.
- moto's dispatcher lists its package directory on every request to route it.
"""

from moto import backends
from moto.core import serialize
from moto.core.utils import MISSING, get_value
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def get_tags(self):
    if not self.id:
        return []
    tags = self.ec2_backend.tags.get(self.id)
    if not tags:
        return []
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [
        {"resource_id": self.id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in list(tags.items())
    ]


def pick_attribute(self, context):
    # A picker serves one response, so its caches live and die with it.
    cache = self.__dict__.setdefault("_simulator_cache", {})
    obj = context.obj
    keys_id = (type(obj), id(context.shape), context.key)
    keys = cache.get(keys_id)
    if keys is None:
        keys = cache[keys_id] = list(self.get_possible_keys(context))
    for key in keys:
        value = get_value(obj, key, MISSING)
        if value is not MISSING:
            break
    else:
        value = None
    key_path = f"{context.key_path}.{context.key}"
    transform = cache.get(key_path, MISSING)
    if transform is MISSING:
        transform = cache[key_path] = next(
            (t for path, t in self.response_transformers.items() if key_path.endswith(path)), None
        )
    return transform(value) if transform else value


def install():
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    TaggedEC2Resource.get_tags = get_tags
    serialize.AttributePicker.__call__ = pick_attribute
