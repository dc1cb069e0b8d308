"""Builds the shipped `patents` sample: samples/library/patents/{date}/part-0.jsonl for two dates.

SYNTHETIC documents: no permissively licensed patent full text is available here, so each record
is assembled from templates written for this project, filled with seeded choices. They follow the
layout of a Chinese invention patent description (技术领域, 背景技术, 发明内容, 附图说明,
具体实施方式 with 步骤S1..., numbered paragraphs [0001]) so hierarchical chunking has real
structure to work on. `meta`: patent_number, jurisdiction, pub_date, applicant, ipc and
page_starts (character offsets where each printed page starts; the chunker maps fragments to pages).

Run from the repo root: `python -m samples.build_patents`.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from samples import write_part

SEED = 20261120
DATES = ("2026-11-20", "2026-11-21")
PER_DATE = 10
PAGE_CHARS = 1500
OUT = Path(__file__).resolve().parent / "library" / "patents"

TOPICS = [
    {
        "name": "锂离子电池健康状态估计",
        "field": "储能设备管理",
        "object": "电池包",
        "parts": ["电压采集模块", "温度传感器阵列", "电流检测单元", "健康状态估计模块", "云端管理平台"],
        "steps": ["采集电池单体的电压、电流和温度数据", "对采集数据进行滤波和异常值剔除", "提取充电曲线的容量增量特征", "将特征输入预先训练的估计模型", "输出健康状态值并更新维护计划"],
        "params": [("采样频率", "Hz", 1, 50), ("充电倍率", "C", 1, 3), ("温度阈值", "℃", 35, 60)],
        "ipc": "H01M 10/48",
    },
    {
        "name": "农业大棚智能灌溉",
        "field": "农业物联网",
        "object": "大棚土壤",
        "parts": ["土壤湿度传感器", "气象站", "电磁阀组", "边缘控制器", "水肥一体机"],
        "steps": ["获取各区域土壤湿度与环境温湿度", "根据作物生长阶段确定目标湿度区间", "计算各区域的需水量", "生成灌溉时序并下发至电磁阀组", "记录灌溉结果并修正模型参数"],
        "params": [("目标湿度", "%", 45, 80), ("单次灌溉时长", "分钟", 5, 30), ("采集周期", "分钟", 1, 15)],
        "ipc": "A01G 25/16",
    },
    {
        "name": "桥梁结构裂缝图像检测",
        "field": "土木工程结构健康监测",
        "object": "桥梁表面",
        "parts": ["无人机搭载相机", "图像预处理单元", "裂缝分割网络", "尺寸测量模块", "报警终端"],
        "steps": ["沿预设航线拍摄桥梁表面图像", "对图像进行去噪、拼接和光照校正", "利用分割网络提取裂缝区域", "计算裂缝的长度和最大宽度", "按照宽度等级生成检测报告"],
        "params": [("拍摄距离", "米", 2, 10), ("图像分辨率", "万像素", 1200, 4800), ("宽度阈值", "毫米", 1, 3)],
        "ipc": "G06T 7/00",
    },
    {
        "name": "冷链物流温度追溯",
        "field": "冷链运输",
        "object": "冷藏车厢",
        "parts": ["无线温度标签", "车载网关", "定位模块", "区块链存证节点", "监管平台"],
        "steps": ["在货物包装内布置无线温度标签", "车载网关周期性读取温度并附加位置信息", "对超出阈值的记录生成告警事件", "将数据摘要写入存证节点", "收货方扫码查看全程温度曲线"],
        "params": [("温度上限", "℃", 2, 8), ("上报周期", "秒", 10, 120), ("告警延时", "分钟", 1, 10)],
        "ipc": "G06Q 10/08",
    },
    {
        "name": "中文手写公式识别",
        "field": "模式识别与教育信息化",
        "object": "手写作答图像",
        "parts": ["扫描单元", "版面分析模块", "符号识别网络", "结构解析模块", "批改引擎"],
        "steps": ["获取学生作答区域的扫描图像", "对图像进行版面分析并定位公式区域", "识别公式中的字符和运算符号", "根据符号位置关系重建公式结构", "与标准答案比对并给出评分"],
        "params": [("扫描精度", "dpi", 200, 600), ("候选数量", "个", 3, 10), ("置信度阈值", "", 0, 1)],
        "ipc": "G06V 30/32",
    },
    {
        "name": "污水处理曝气量优化控制",
        "field": "水处理",
        "object": "曝气池",
        "parts": ["溶解氧传感器", "氨氮在线分析仪", "变频鼓风机", "预测控制器", "中控系统"],
        "steps": ["实时采集溶解氧和氨氮浓度", "预测未来一段时间的进水负荷", "以能耗最小为目标求解曝气量", "调节鼓风机频率和阀门开度", "评估出水指标并反馈校正"],
        "params": [("溶解氧设定值", "mg/L", 1, 3), ("控制周期", "分钟", 5, 20), ("鼓风机频率", "Hz", 30, 50)],
        "ipc": "C02F 3/00",
    },
    {
        "name": "风电机组叶片结冰预警",
        "field": "风力发电",
        "object": "风电机组叶片",
        "parts": ["振动传感器", "功率曲线分析模块", "气象数据接口", "结冰识别模型", "除冰执行机构"],
        "steps": ["采集叶片振动信号与机组运行数据", "计算实际功率与理论功率的偏差", "结合环境温湿度判断结冰条件", "由识别模型输出结冰概率", "概率超过阈值时启动除冰或降载"],
        "params": [("环境温度", "℃", -20, 2), ("相对湿度", "%", 70, 100), ("功率偏差阈值", "%", 5, 20)],
        "ipc": "F03D 80/40",
    },
    {
        "name": "仓储机器人路径规划",
        "field": "智能仓储",
        "object": "仓储区域",
        "parts": ["调度服务器", "移动机器人", "二维码地标", "避障雷达", "任务管理系统"],
        "steps": ["将仓储区域划分为栅格地图", "接收订单任务并分配给空闲机器人", "基于时间窗搜索无冲突路径", "机器人按路径行驶并实时上报位置", "发生拥堵时重新规划局部路径"],
        "params": [("栅格边长", "米", 1, 2), ("最大速度", "米/秒", 1, 3), ("安全距离", "米", 1, 2)],
        "ipc": "G05D 1/02",
    },
]
APPLICANTS = ["华东智造科技有限公司", "西岭大学", "南湖能源研究院", "北辰信息技术股份有限公司", "青松环境工程有限公司"]
BACKGROUND = [
    "现有的{obj}管理方式主要依赖人工巡检和经验判断，效率较低，且难以及时发现潜在问题。",
    "随着{field}领域规模的不断扩大，对{obj}状态进行实时、准确的监测成为亟待解决的技术问题。",
    "现有技术中，部分方案采用单一传感器进行判断，容易受到环境干扰，误报率较高。",
    "另一些方案虽然引入了数据分析方法，但计算量大，难以在边缘设备上实时运行。",
    "此外，现有系统各模块之间的数据格式不统一，导致信息孤岛，难以形成闭环控制。",
]
SUMMARY = [
    "本发明的目的在于提供一种{name}方法及系统，以解决上述背景技术中提出的问题。",
    "为实现上述目的，本发明提供如下技术方案：一种{name}方法，包括以下步骤：{steps}。",
    "本发明还提供一种{name}系统，包括{parts}。",
    "与现有技术相比，本发明的有益效果是：提高了{obj}状态判断的准确性，降低了人工成本，并且便于在现有设施上部署。",
]
DETAIL = [
    "在本实施例中，{part}的{param}设置为{val}{unit}，该取值在保证精度的同时兼顾了能耗。",
    "需要说明的是，{part}与{part2}之间通过工业总线连接，数据传输采用带校验的帧格式。",
    "具体地，当{param}超过{val}{unit}时，系统将当前记录标记为异常，并保留原始数据以便追溯。",
    "作为一种优选的实施方式，上述处理可以在{part}中完成，从而减少与云端之间的通信量。",
    "经过试验验证，采用本步骤后，误判率由原来的{p1}%降低至{p2}%。",
    "本领域技术人员可以理解，上述参数可根据{obj}的实际规模进行调整，并不限于本实施例所列数值。",
    "为了提高鲁棒性，{part}还对连续{n}个周期的数据进行滑动平均处理。",
    "若{part}在规定时间内未返回结果，则由{part2}采用默认策略继续执行，保证流程不中断。",
    "在另一些实施方式中，{part}可以替换为功能相同的其他器件，只要其{param}的调节范围覆盖{val}{unit}即可。",
    "本步骤的输出结果同时写入本地存储和{part2}，两份数据定期比对，发现不一致时以时间戳较新的一份为准。",
    "对比例中未采用{part}，在相同条件下连续运行{n}天，异常事件的平均发现时间延长了约{p1}小时。",
    "进一步地，{part}在启动时执行自检程序，自检失败时向{part2}发送故障代码，并点亮相应的指示灯。",
]
SITES = ["某省级示范园区", "某城市的试点项目", "一条年产能较大的生产线", "某高校的实验平台", "某企业的区域运营中心"]


def _para(counter: list[int], text: str) -> str:
    counter[0] += 1
    return f"[{counter[0]:04d}] {text}"


def patent(rng: random.Random, topic: dict, number: str) -> str:
    fill = {"name": topic["name"], "field": topic["field"], "obj": topic["object"]}
    fill["steps"] = "；".join(f"S{i}，{s}" for i, s in enumerate(topic["steps"], 1))
    fill["parts"] = "、".join(topic["parts"])
    n = [0]
    lines = [f"一种{topic['name']}方法及系统", "", "技术领域"]
    lines.append(_para(n, f"本发明涉及{topic['field']}技术领域，具体涉及一种{topic['name']}方法及系统。"))
    lines += ["", "背景技术"]
    for s in rng.sample(BACKGROUND, k=rng.randint(3, 5)):
        lines.append(_para(n, s.format(**fill)))
    lines += ["", "发明内容"]
    for s in SUMMARY:
        lines.append(_para(n, s.format(**fill)))
    lines += ["", "附图说明"]
    lines.append(_para(n, f"图1为本发明实施例提供的{topic['name']}方法的流程示意图；"))
    lines.append(_para(n, f"图2为本发明实施例提供的{topic['name']}系统的结构示意图。"))
    lines += ["", "具体实施方式"]
    lines.append(_para(n, "下面将结合本发明实施例中的附图，对本发明实施例中的技术方案进行清楚、完整地描述。"))
    for k in range(1, rng.randint(2, 3) + 1):
        lines.append(f"实施例{k}")
        lines.append(_para(n, f"本实施例提供一种{topic['name']}方法，应用于{rng.choice(SITES)}，请参阅图1，该方法包括以下步骤。"))
        _steps(rng, topic, fill, lines, n)
    lines.append(_para(n, "以上所述仅为本发明的较佳实施例，凡在本发明的精神和原则之内所作的任何修改、等同替换和改进等，均应包含在本发明的保护范围之内。"))
    lines.append(f"（公开号 {number}）")
    return "\n".join(lines)


def _steps(rng: random.Random, topic: dict, fill: dict, lines: list[str], n: list[int]) -> None:
    for i, step in enumerate(topic["steps"], 1):
        lines.append(f"步骤S{i}：{step}。")
        for s in rng.sample(DETAIL, k=rng.randint(3, 6)):
            param, unit, lo, hi = rng.choice(topic["params"])
            part, part2 = rng.sample(topic["parts"], k=2)
            val = round(rng.uniform(lo, hi), 2) if hi - lo <= 1 else rng.randint(lo, hi)
            p1 = rng.randint(8, 20)
            lines.append(_para(n, s.format(part=part, part2=part2, param=param, unit=unit, val=val, p1=p1, p2=rng.randint(1, p1 - 2), n=rng.randint(3, 12), **fill)))


def page_starts(text: str, page_chars: int = PAGE_CHARS) -> list[int]:
    """Offsets where printed pages start: a new page at the first line start past each page_chars."""
    starts, next_break, pos = [0], page_chars, 0
    for line in text.split("\n")[:-1]:
        pos += len(line) + 1
        if pos >= next_break:
            starts.append(pos)
            next_break = pos + page_chars
    return starts


def build(out: Path = OUT) -> dict[str, int]:
    rng = random.Random(SEED)
    counts, serial = {}, 118_400_000
    for date in DATES:
        docs = []
        for _ in range(PER_DATE):
            serial += rng.randint(1, 999)
            topic = rng.choice(TOPICS)
            number = f"CN{serial}A"
            text = patent(rng, topic, number)
            docs.append(
                {
                    "id": number,
                    "title": f"一种{topic['name']}方法及系统",
                    "text": text,
                    "url": f"https://patents.example.cn/{number}",
                    "patent_number": number,
                    "jurisdiction": "CN",
                    "pub_date": date,
                    "applicant": rng.choice(APPLICANTS),
                    "ipc": topic["ipc"],
                    "page_starts": page_starts(text),
                    "synthetic": True,
                }
            )
        write_part(out / date, docs)
        counts[date] = len(docs)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    for date, n in build(args.out).items():
        print(f"{args.out / date / 'part-0.jsonl'}: {n} documents")


if __name__ == "__main__":
    main()
