"""Seed a fleet (instances with EBS volumes, launch templates, ASGs) through the EC2 API itself."""

import boto3
import yaml

from simulator import patching

DEFAULT_VOLUMES = [{"device": "/dev/xvda", "size": 8}]


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _client(service, endpoint, region, headers):
    client = boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )

    def add_headers(request, **_):
        for name, value in (headers or {}).items():
            request.headers[name] = value

    client.meta.events.register("before-sign", add_headers)
    return client


def _expand(spec):
    count = int(spec.get("count", 1))
    if count == 1:
        return [spec["name"]]
    return [f"{spec['name']}-{n}" for n in range(1, count + 1)]


def _base_image(ec2, root_device, images):
    """The AMI instances with this root device launch from; registered once per root device."""
    name = "base-image" if root_device == "/dev/xvda" else f"base-image-{root_device.rsplit('/', 1)[-1]}"
    if name not in images:
        found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
        images[name] = found[0]["ImageId"] if found else ec2.register_image(
            Name=name, Description="Base image of the simulator's fleet",
            RootDeviceName=root_device, Architecture="x86_64", VirtualizationType="hvm",
        )["ImageId"]
    return images[name]


def _launch(ec2, name, spec, image_id, volumes):
    tags = [{"Key": "Name", "Value": name}] + [
        {"Key": str(k), "Value": str(v)} for k, v in (spec.get("tags") or {}).items()
    ]
    mappings = [
        {
            "DeviceName": volume["device"],
            "Ebs": {
                "VolumeSize": int(volume["size"]),
                "VolumeType": volume.get("type", "gp3"),
                "DeleteOnTermination": bool(volume.get("delete_on_termination", index == 0)),
            },
        }
        for index, volume in enumerate(volumes)
    ]
    instance = ec2.run_instances(
        ImageId=image_id, InstanceType=spec.get("instance_type", "t3.micro"), MinCount=1, MaxCount=1,
        BlockDeviceMappings=mappings,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        HibernationOptions={"Configured": bool(spec.get("hibernation", False))},
    )["Instances"][0]
    by_device = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    volume_ids = []
    for volume in volumes:
        volume_id = by_device[volume["device"]]
        volume_ids.append(volume_id)
        volume_tags = [{"Key": "Name", "Value": f"{name}:{volume['device']}"}] + [
            {"Key": str(k), "Value": str(v)} for k, v in (volume.get("tags") or {}).items()
        ]
        ec2.create_tags(Resources=[volume_id], Tags=volume_tags)
    return instance["InstanceId"], volume_ids


def seed(endpoint, document, headers=None):
    region = document.get("region", "us-east-1")
    ec2 = _client("ec2", endpoint, region, headers)
    result = {"instances": {}, "volumes": {}, "images": {}, "launch_templates": {}, "auto_scaling_groups": []}
    for spec in document.get("instances") or []:
        volumes = spec.get("volumes") or DEFAULT_VOLUMES
        image_id = spec.get("image_id") or _base_image(ec2, volumes[0]["device"], result["images"])
        # Checked before the spec's instances are launched; the inventory is the simulator's, no API seeds it.
        patches = patching.parse_patches(spec.get("patches") or [])
        for name in _expand(spec):
            instance_id, volume_ids = _launch(ec2, name, spec, image_id, volumes)
            result["instances"][name] = instance_id
            result["volumes"][name] = volume_ids
            if patches:
                patching.PATCHING.put(instance_id, patches)
            state = spec.get("state", "running")
            if state == "stopped":
                ec2.stop_instances(InstanceIds=[instance_id])
            elif state == "terminated":
                ec2.terminate_instances(InstanceIds=[instance_id])
            elif state != "running":
                raise ValueError(f"instance {name}: state must be running, stopped or terminated")
    for template in document.get("launch_templates") or []:
        data = {
            "ImageId": template.get("image_id") or _base_image(ec2, "/dev/xvda", result["images"]),
            "InstanceType": template.get("instance_type", "t3.micro"),
        }
        created = ec2.create_launch_template(LaunchTemplateName=template["name"], LaunchTemplateData=data)
        result["launch_templates"][template["name"]] = created["LaunchTemplate"]["LaunchTemplateId"]
    groups = document.get("auto_scaling_groups") or []
    if groups:
        autoscaling = _client("autoscaling", endpoint, region, headers)
        for group in groups:
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=group["name"],
                LaunchTemplate={"LaunchTemplateName": group["launch_template"],
                                "Version": str(group.get("launch_template_version", "$Latest"))},
                MinSize=int(group.get("min_size", 0)),
                MaxSize=int(group.get("max_size", 1)),
                DesiredCapacity=int(group.get("desired_capacity", group.get("min_size", 0))),
                AvailabilityZones=group.get("availability_zones") or [f"{region}a"],
            )
            result["auto_scaling_groups"].append(group["name"])
    return result
